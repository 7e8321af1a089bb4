package console_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/ccoro/coro"
	"github.com/ccoro/coro/console"
)

// Serve a console on a unix socket and ask it one question, as
// "coro console PATH ps" would.
func ExampleStart() {
	l, err := coro.NewLoop(coro.WithName("web"))
	if err != nil {
		panic(err)
	}
	defer l.Close(context.Background())
	dir, _ := os.MkdirTemp("", "console")
	defer os.RemoveAll(dir)

	s, err := console.Start(console.Config{
		Path:  filepath.Join(dir, "console.sock"),
		Log:   io.Discard,
		Loops: func() []*coro.Loop { return []*coro.Loop{l} }, // default: coro.Loops
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	c, err := net.Dial("unix", s.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	answer := func() (lines []string) { // the lines up to "."
		for {
			line, _ := r.ReadString('\n')
			if line == ".\n" || line == "" {
				return lines
			}
			lines = append(lines, strings.TrimRight(line, "\n"))
		}
	}
	answer() // the greeting
	fmt.Fprintln(c, "ps web")
	fmt.Println(strings.Join(answer(), "\n"))
	fmt.Fprintln(c, "quit")
	fmt.Println(strings.Join(answer(), "\n"))
	// Output:
	// LOOP  ID  NAME  STATE  FOR  SWITCHES  RUN  STACK used/peak/size  WAIT
	// 0 coroutines
	// bye
}
