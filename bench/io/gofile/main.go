// Command gofile is the Go peer of the static-file benchmark
// (scripts/bench-io.sh): net/http's FileServer over a directory. The script
// runs it with GOMAXPROCS=1, like nginx with one worker and
// `coro httpd -loops 1`.
//
//	GOMAXPROCS=1 gofile -addr 127.0.0.1:PORT -root DIR
//
// It prints "gofile: serving DIR on ADDR" and runs until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT`")
	root := flag.String("root", ".", "serve the files under `DIR`")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gofile: serving %s on %s\n", *root, ln.Addr())
	srv := &http.Server{Handler: http.FileServer(http.Dir(*root)), ErrorLog: log.New(discard{}, "", 0)}
	log.Fatal(srv.Serve(ln))
}

// discard drops the server's error log (wrk's connections closing at the end
// of a run are not worth printing).
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
