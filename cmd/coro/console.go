package main

// coro console: the client of the console (package console), and the
// -console / -console-tcp flags that httpd and echo share.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ccoro/coro/console"
	"golang.org/x/term"
)

var consoleCommand = &command{
	name:      "console",
	summary:   "talk to the console of a running coro program (httpd -console)",
	args:      "[-token T] PATH|HOST:PORT [COMMAND...]",
	takesArgs: true,
	help: `Connect to the console of a running program (coro httpd or echo started
with -console PATH or -console-tcp ADDR, or any program that calls
console.Serve) and run commands: with COMMAND, that one command, else one
per line from stdin until end of file or "quit". On a terminal the lines
can be edited and recalled (up/down); otherwise stdin is read as it comes,
so scripts and pipes work. "help" lists the server's commands; "json CMD"
answers in JSON.

A TCP console needs its token (printed by the server at start): -token or
$CORO_CONSOLE_TOKEN.

Exit status: 0 done, 1 could not connect or the server refused us, or a
COMMAND answered an error, 2 usage error.`,
	flags: consoleClientFlags,
}

func consoleClientFlags(fs *flag.FlagSet) func(stdout, stderr io.Writer) int {
	token := fs.String("token", "", "the token of a TCP console (default $CORO_CONSOLE_TOKEN)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on an answer after `D`")
	return func(stdout, stderr io.Writer) int {
		args := fs.Args()
		if len(args) == 0 {
			return usageError(stderr, "console", "want PATH or HOST:PORT")
		}
		if *token == "" {
			*token = os.Getenv("CORO_CONSOLE_TOKEN")
		}
		return runConsole(args[0], *token, strings.Join(args[1:], " "), *timeout, os.Stdin, stdout, stderr)
	}
}

// consoleConn is a client's connection.
type consoleConn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// dialConsole connects to target (a path if it has a '/' or names an
// existing file, else HOST:PORT) and reads the greeting.
func dialConsole(target, token string, timeout time.Duration) (*consoleConn, string, error) {
	network := "tcp"
	if strings.Contains(target, "/") {
		network = "unix"
	} else if _, err := os.Stat(target); err == nil {
		network = "unix"
	}
	c, err := net.DialTimeout(network, target, timeout)
	if err != nil {
		return nil, "", err
	}
	cc := &consoleConn{c, bufio.NewReader(c), timeout}
	if network == "tcp" {
		if token == "" {
			c.Close()
			return nil, "", errors.New("a TCP console needs its token: -token or $CORO_CONSOLE_TOKEN")
		}
		if err := cc.send("auth " + token); err != nil {
			c.Close()
			return nil, "", err
		}
	}
	greeting, err := cc.answer()
	if err == nil && strings.HasPrefix(greeting, "error: ") {
		err = errors.New(strings.TrimSpace(strings.TrimPrefix(greeting, "error: ")))
	}
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return cc, greeting, nil
}

func (cc *consoleConn) send(line string) error {
	cc.c.SetWriteDeadline(time.Now().Add(cc.timeout))
	_, err := io.WriteString(cc.c, line+"\n")
	return err
}

// answer reads one answer: the lines up to "." (dot-stuffing undone).
func (cc *consoleConn) answer() (string, error) {
	cc.c.SetReadDeadline(time.Now().Add(cc.timeout))
	var b strings.Builder
	for {
		line, err := cc.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && b.Len() == 0 {
				err = errors.New("the server closed the connection")
			}
			return b.String(), err
		}
		if line == ".\n" {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}

// do sends a command and returns its answer.
func (cc *consoleConn) do(line string) (string, error) {
	if err := cc.send(line); err != nil {
		return "", err
	}
	return cc.answer()
}

// runConsole is "coro console": one command, or a session on stdin.
func runConsole(target, token, oneCommand string, timeout time.Duration, stdin io.Reader, stdout, stderr io.Writer) int {
	cc, greeting, err := dialConsole(target, token, timeout)
	if err != nil {
		fmt.Fprintf(stderr, "coro console: %s: %v\n", target, err)
		return exitFailed
	}
	defer cc.c.Close()
	if oneCommand != "" {
		a, err := cc.do(oneCommand)
		io.WriteString(stdout, a)
		if err != nil {
			fmt.Fprintf(stderr, "coro console: %v\n", err)
			return exitFailed
		}
		if strings.HasPrefix(a, "error: ") {
			return exitFailed
		}
		return exitOK
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if code, ok := terminalSession(cc, greeting, f, stdout, stderr); ok {
			return code
		}
	}
	io.WriteString(stdout, greeting)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, console.MaxLine+2), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		a, err := cc.do(line)
		io.WriteString(stdout, a)
		if err != nil {
			fmt.Fprintf(stderr, "coro console: %v\n", err)
			return exitFailed
		}
		if strings.EqualFold(line, "quit") {
			return exitOK
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "coro console: stdin: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// terminalSession runs the session with line editing and history
// (x/term) on a terminal in raw mode; false if the terminal cannot be
// put in raw mode (then the plain session runs).
func terminalSession(cc *consoleConn, greeting string, tty *os.File, stdout, stderr io.Writer) (int, bool) {
	old, err := term.MakeRaw(int(tty.Fd()))
	if err != nil {
		return 0, false
	}
	defer term.Restore(int(tty.Fd()), old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{tty, stdout}, "coro> ")
	if w, h, err := term.GetSize(int(tty.Fd())); err == nil && w > 0 && h > 0 {
		t.SetSize(w, h)
	}
	io.WriteString(t, greeting)
	for {
		line, err := t.ReadLine()
		if err != nil { // io.EOF: ^D
			return exitOK, true
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		a, err := cc.do(line)
		io.WriteString(t, a)
		if err != nil {
			term.Restore(int(tty.Fd()), old)
			fmt.Fprintf(stderr, "coro console: %v\n", err)
			return exitFailed, true
		}
		if strings.EqualFold(line, "quit") {
			return exitOK, true
		}
	}
}

// consoleFlags adds -console and -console-tcp to a server's flags; the
// function it returns starts the console the flags ask for (none: a no-op)
// and returns its stop function. The console shows every loop of the
// process.
func consoleFlags(fs *flag.FlagSet) func(log io.Writer) (stop func(), err error) {
	path := fs.String("console", "", "serve a console on the unix socket `PATH` (mode 0600; see coro console)")
	addr := fs.String("console-tcp", "", "serve a console on loopback TCP `ADDR`, with a token printed at start")
	return func(log io.Writer) (func(), error) {
		var servers []*console.Server
		stop := func() {
			for _, s := range servers {
				s.Close()
			}
		}
		for _, cfg := range []console.Config{{Path: *path, Log: log}, {Addr: *addr, Log: log}} {
			if cfg.Path == "" && cfg.Addr == "" {
				continue
			}
			s, err := console.Start(cfg)
			if err != nil {
				stop()
				return nil, err
			}
			servers = append(servers, s)
		}
		return stop, nil
	}
}
