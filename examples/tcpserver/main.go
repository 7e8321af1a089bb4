// Command tcpserver runs a line server written in C on a Group of loops:
// each loop accepts on its own SO_REUSEPORT listener on one loopback
// address and serves each connection in a C coroutine of its own, answering
// every line with the line in upper case. The program then connects to
// itself with a few Go clients, prints their answers and shuts down.
//
// The C code includes the headers that `go generate` copied into this
// folder (see the go:generate line below and cmd/coroheaders).
package main

//go:generate go run github.com/ccoro/coro/cmd/coroheaders

/*
#include <ctype.h>
#include <stdint.h>
#include "coro.h"
#include "coro_go.h"

static long served; // connections accepted, by all loops

// serve_conn answers each line read from fd with the line in upper case,
// until the client closes the connection or the loop shuts down.
static void *serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[4096];
  ssize_t n;
  while ((n = coro_read(fd, buf, sizeof buf, -1)) > 0) {
    for (ssize_t i = 0; i < n; i++)
      buf[i] = (char)toupper((unsigned char)buf[i]);
    if (coro_write_all(fd, buf, (size_t)n, -1) < 0)
      break;
  }
  coro_fd_close(fd);
  return NULL;
}

// accept_loop is the coroutine Go spawns on each loop, with that loop's
// listening socket: it starts a detached serve_conn for every connection
// until Close cancels it (coro_accept returns -ECANCELED), then closes the
// listener. Cancelling a loop cancels its serve_conn coroutines as well.
static void *accept_loop(void *arg) {
  int lfd = (int)(intptr_t)arg;
  int fd;
  while ((fd = coro_accept(lfd, NULL, NULL, -1)) >= 0) {
    __atomic_fetch_add(&served, 1, __ATOMIC_RELAXED);
    if (coro_spawn(NULL, serve_conn, (void *)(intptr_t)fd, NULL) < 0)
      coro_fd_close(fd);
  }
  coro_fd_close(lfd);
  return (void *)(intptr_t)fd; // -ECANCELED, or why accepting failed
}
CORO_GO_ENTRY(accept_loop)

static long served_count(void) { return __atomic_load_n(&served, __ATOMIC_RELAXED); }
*/
import "C"

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ccoro/coro"
	_ "github.com/ianlancetaylor/cgosymbolizer" // C frames in tracebacks
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tcpserver:", err)
		os.Exit(1)
	}
}

func run() error {
	g, err := coro.NewGroup(2, coro.WithName("lines"))
	if err != nil {
		return err
	}
	// Close cancels the accept and connection coroutines; give them a
	// deadline to finish in.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Close(ctx)
	}()

	// Port 0: the first listener picks a free port, the others share it.
	fds, addr, err := g.ListenEach("127.0.0.1:0")
	if err != nil {
		return err
	}
	for i, fd := range fds {
		if _, err := g.Loop(i).Spawn(coro.Entry(C.accept_loop_entry()), uintptr(fd)); err != nil {
			return err
		}
	}

	const clients = 3
	answers := make([]string, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { answers[i], errs[i] = ask(addr, fmt.Sprintf("hello from client %d", i)) })
	}
	wg.Wait()
	for i := range clients {
		if errs[i] != nil {
			return errs[i]
		}
		fmt.Printf("client %d got %q\n", i, answers[i])
	}
	fmt.Printf("the server accepted %d connections on %d loops\n", C.served_count(), g.Len())
	return nil
}

// ask sends one line to the server and returns its answer.
func ask(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return "", err
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	return answer[:max(len(answer)-1, 0)], err
}
