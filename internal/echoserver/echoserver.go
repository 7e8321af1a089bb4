// Package echoserver is the loopback server that blocking C clients of
// the libc hooks are run against, by the hooks package's tests and by
// coro hookdemo (internal/hookdemo): it answers each connection's first
// line with the line itself, and can hold every answer until a given
// number of requests are in at once, so that a test counts how many
// clients were in flight together instead of timing them.
package echoserver

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// barrierWait bounds the wait for the barrier: a client that never comes
// costs the others 20 s, not a hang.
const barrierWait = 20 * time.Second

// Start listens on 127.0.0.1 (a free port) and serves each connection on
// a goroutine of its own, so it never limits the clients' concurrency:
// it reads one line and writes it back after delay. With barrier > 0 no
// line is answered before barrier requests have arrived (or 20 s have
// passed). stop closes the listener and waits for every connection's
// goroutine to end.
func Start(delay time.Duration, barrier int) (port int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				if barrier > 0 {
					mu.Lock()
					if arrived++; arrived == barrier {
						close(all)
					}
					mu.Unlock()
					select {
					case <-all:
					case <-time.After(barrierWait):
					}
				}
				time.Sleep(delay)
				c.Write([]byte(line))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() { ln.Close(); wg.Wait() }, nil
}
