package console

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLine is the longest command line the console reads, in bytes (the
// newline not counted). A longer line is answered with an error and
// skipped; the connection stays usable.
const MaxLine = 4096

// maxArgs bounds the words of a command: no command takes more than two.
const maxArgs = 8

// A Command is one parsed command line.
type Command struct {
	Name string   // lower case: "ps", "bt", ...
	Args []string // the words after the name
	JSON bool     // "json NAME ...": answer in JSON
}

// Errors of Parse.
var (
	ErrEmpty    = errors.New("empty line")
	ErrTooLong  = fmt.Errorf("line longer than %d bytes", MaxLine)
	ErrBadByte  = errors.New("control character or non-ASCII byte in the line")
	ErrTooMany  = fmt.Errorf("more than %d words", maxArgs)
	ErrJSONOnly = errors.New("json needs a command after it")
)

// Parse reads one command line (without its newline; a trailing \r is
// dropped, so telnet and Windows clients work): words separated by spaces
// or tabs, printable ASCII only, at most MaxLine bytes and maxArgs words;
// a first word "json" asks for the JSON form of the command that follows.
// Command names are case-insensitive. Parse does not know the commands:
// the server checks the name and the arguments.
func Parse(line string) (Command, error) {
	if len(line) > MaxLine {
		return Command{}, ErrTooLong
	}
	line = strings.TrimSuffix(line, "\r")
	for i := 0; i < len(line); i++ {
		if c := line[i]; c != '\t' && (c < ' ' || c > '~') {
			return Command{}, ErrBadByte
		}
	}
	words := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(words) == 0 {
		return Command{}, ErrEmpty
	}
	if len(words) > maxArgs+1 {
		return Command{}, ErrTooMany
	}
	var c Command
	if strings.EqualFold(words[0], "json") {
		c.JSON = true
		words = words[1:]
		if len(words) == 0 {
			return Command{}, ErrJSONOnly
		}
	}
	c.Name = strings.ToLower(words[0])
	if len(words) > 1 {
		c.Args = words[1:]
	}
	return c, nil
}
