// Command goecho is the Go peer of the echo benchmark (scripts/bench-io.sh):
// a net echo server with one goroutine per connection, each a plain read and
// write loop. The script runs it with GOMAXPROCS=1 so that, like the C epoll
// server and `coro echo -loops 1`, it has one thread running user code.
//
//	GOMAXPROCS=1 goecho -addr 127.0.0.1:PORT
//
// It prints "goecho: listening on ADDR" and runs until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen on `HOST:PORT`")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("goecho: listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

// serve echoes one connection until end of file or an error. It is a read
// and write loop rather than io.Copy, because io.Copy between two TCP
// connections takes the splice(2) path through a pipe on Linux, which is not
// what an echo server written by hand does.
func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
