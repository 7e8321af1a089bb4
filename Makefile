# coro - build the C engine as a static library and run every test.
#
#   make              libcoro.a and the C test programs (build/native)
#   make check        the fast tier for everyday work (about two minutes):
#                     the C tests natively, go vet, gofmt and go test
#   make test         everything CI runs: the C tests (native, ucontext
#                     switch, ASan+UBSan, valgrind, ThreadSanitizer on the
#                     cross-thread tests, arm64 under qemu), go vet, gofmt,
#                     go test -race, go test -tags coro_ucontext on the Go
#                     boundary, the Go tests on arm64 under qemu, the fuzz
#                     corpus replay and a 60 s soak of coro httpd. The
#                     stages run two at a time (LANES=1 for one at a time);
#                     each prints its output whole and its time when it
#                     ends, and the run ends with the table.
#   make test-c       the C tests, native build only
#   make test-arm64   the C tests and the Go tests for arm64 under qemu
#   make soak         the long soak: SOAK_TIME (default 10m) of connection
#                     churn against coro httpd, fds and RSS required flat
#   make bench        the benchmark table (scripts/bench.sh)
#   make bench-dns    the resolver against c-ares, glibc and Go on a local
#                     nsd (scripts/bench-dns.sh)
#   make fuzz-http    fuzz the HTTP request parser with libFuzzer for
#                     FUZZ_TIME seconds (default 60),
#                     adding new inputs to fuzz/corpus/http_parse
#   make fuzz-dns     the same for the DNS message decoder and the
#                     resolv.conf/hosts parsers (fuzz/corpus/dns_msg)
#   make fuzz-mime    the same for the mime.types parser and the type
#                     lookup (fuzz/corpus/mime_types)
#   make test-fuzz-corpus
#                     replay the corpora through their harnesses
#                     (part of make test; needs clang: install-deps fuzz)
#
# Variants build into build/<variant>/ so they never mix objects:
#   native    -O2 with the assembly switch
#   ucontext  the portable getcontext/swapcontext switch
#   asan      -fsanitize=address,undefined
#   valgrind  -O1, run under valgrind memcheck
#   tsan      -fsanitize=thread; runs only the tests that use threads
#             (TSAN_TESTS), both stack modes
#   arm64     cross-built with aarch64-linux-gnu-gcc, run under qemu-aarch64
#
# The Go tests never run the C test programs again (internal/ctests skips
# when CORO_SKIP_CTESTS is set): make runs them itself, once per variant.

CC       ?= cc
# Frame pointers in every build: coro_backtrace (csrc/backtrace.c) walks
# the frame-pointer chain of suspended coroutines. Cost: rbp/x29 is no
# longer a free register and each non-leaf function saves and sets it
# (BenchmarkYield: fastest runs 11.1 ns against 10.3 ns, see csrc/csrc.go).
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Icsrc -fno-omit-frame-pointer
V        ?= native
B        := build/$(V)

ifeq ($(V),native)
XCC    := $(CC)
XFLAGS := -O2
RUN    :=
endif
ifeq ($(V),ucontext)
XCC    := $(CC)
XFLAGS := -O2 -DCORO_SWITCH_UCONTEXT
RUN    :=
endif
ifeq ($(V),asan)
XCC    := $(CC)
XFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
RUN    := env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
endif
ifeq ($(V),arm64)
XCC    := aarch64-linux-gnu-gcc
XFLAGS := -O2
RUN    := qemu-aarch64 -L /usr/aarch64-linux-gnu
endif
# TSan: a fiber per coroutine costs it about what a thread does (ms), so
# the timeouts stretch; the tests it runs are the short TSAN_TESTS list.
ifeq ($(V),tsan)
XCC    := $(CC)
XFLAGS := -O1 -fsanitize=thread -fno-omit-frame-pointer
RUN    := env TSAN_OPTIONS=halt_on_error=1:abort_on_error=0:second_deadlock_stack=1 TESTING_TIMEOUT_SCALE=10
endif
ifeq ($(V),valgrind)
XCC    := $(CC)
XFLAGS := -O1
RUN    := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-origins=no
endif

# Stack clash protection: a function with a frame larger than a page
# touches its pages in order, so an overflow meets the guard below a
# coroutine stack instead of jumping it (csrc/stack.c). Every compiler we
# build with has it on x86-64; clang before 17 lacks it on aarch64, so it
# is added only where the compiler takes it.
SCP_FLAG := $(shell $(XCC) -fstack-clash-protection -Werror -x c -c /dev/null \
              -o /dev/null 2>/dev/null && echo -fstack-clash-protection)
XFLAGS   += $(SCP_FLAG)

ENGINE_C  := $(wildcard csrc/*.c)
ENGINE_S  := $(wildcard csrc/*.S)
ENGINE_O  := $(patsubst csrc/%,$(B)/%.o,$(ENGINE_C) $(ENGINE_S))
HEADERS   := $(wildcard csrc/*.h) $(wildcard csrc/*.inc) csrc/test/testing.h csrc/test/testing_loop.h
SWITCH_O  := $(B)/switch_ucontext.c.o $(patsubst csrc/%,$(B)/%.o,$(ENGINE_S))

# Test programs that link the whole engine, and the two that test one file.
ENGINE_TESTS := core_test sync_test overflow_test io_test fault_test dns_test dns_cache_test resolver_test tsan_test backtrace_test
TESTS_RUN    := switch_test stack_test core_test sync_test io_test fault_test dns_test dns_cache_test resolver_test backtrace_test hooks_test

# --- dump (coro_loop_dump, csrc/dump.c) ---
ENGINE_TESTS += dump_test
TESTS_RUN    += dump_test
$(B)/dump_test: csrc/test/dump_test.c $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(B)/libcoro.a -lpthread -rdynamic -o $@

# --- watchdog: the slow-coroutine watchdog, close's and crash reports ---
# (watchdog_test names frames with dladdr: -rdynamic, as backtrace_test)
ENGINE_TESTS += watchdog_test
TESTS_RUN    += watchdog_test
$(B)/watchdog_test: csrc/test/watchdog_test.c $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(B)/libcoro.a -lpthread -rdynamic -o $@

all: $(B)/libcoro.a $(B)/libcoro_hooks.a $(addprefix $(B)/,$(ENGINE_TESTS) switch_test stack_test hooks_test)

$(B)/%.c.o: csrc/%.c $(HEADERS)
	@mkdir -p $(B)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -c $< -o $@

$(B)/%.S.o: csrc/%.S csrc/switch.h
	@mkdir -p $(B)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -c $< -o $@

$(B)/libcoro.a: $(ENGINE_O)
	rm -f $@
	ar rcs $@ $^

$(B)/core_test $(B)/sync_test $(B)/overflow_test $(B)/io_test $(B)/fault_test $(B)/dns_test $(B)/dns_cache_test $(B)/resolver_test $(B)/tsan_test $(B)/backtrace_test: $(B)/%: csrc/test/%.c $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(B)/libcoro.a -lpthread $(LDEXTRA) -o $@

# backtrace_test names its frames with dladdr, which sees only the
# program's dynamic symbols.
$(B)/backtrace_test: LDEXTRA := -rdynamic

# The libc hooks (hooks/, the Go package github.com/ccoro/coro/hooks): not
# in libcoro.a, a program opts in by linking libcoro_hooks.a whole (or
# calling coro_hooks_check, whose table pulls in every member); see
# hooks/hook_check.c. hooks_test runs dynamic and, natively, fully static.
HOOKS_C := $(wildcard hooks/*.c)
HOOKS_O := $(patsubst hooks/%,$(B)/hooks/%.o,$(HOOKS_C))

$(B)/hooks/%.c.o: hooks/%.c hooks/hook.h hooks/coro_hooks.h $(HEADERS)
	@mkdir -p $(B)/hooks
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -c $< -o $@

$(B)/libcoro_hooks.a: $(HOOKS_O)
	rm -f $@
	ar rcs $@ $^

# With libpq's headers (libpq-dev), hooks_test also drives libpq.so.
# The host's pkg-config describes the host's libpq: not for the arm64
# cross build, which has no libpq of its arch (hooks_test runs without it).
ifneq ($(V),arm64)
PQ_FLAGS := $(shell pkg-config --exists libpq 2>/dev/null && \
              echo -DCORO_HAVE_LIBPQ $$(pkg-config --cflags --libs libpq))
endif

$(B)/hooks_test: csrc/test/hooks_test.c csrc/test/hooks_client.c csrc/test/hooks_client.h $(B)/libcoro_hooks.a $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihooks $< csrc/test/hooks_client.c \
	  -Wl,--whole-archive $(B)/libcoro_hooks.a -Wl,--no-whole-archive \
	  $(B)/libcoro.a $(PQ_FLAGS) -lpthread -ldl -o $@

$(B)/hooks_test_static: csrc/test/hooks_test.c csrc/test/hooks_client.c csrc/test/hooks_client.h $(B)/libcoro_hooks.a $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihooks $< csrc/test/hooks_client.c \
	  $(B)/libcoro_hooks.a $(B)/libcoro.a -static -lpthread -ldl -o $@

# --- hooks against real servers ---
# hooks_servers_test drives hiredis, libpq, libmariadb and libcurl through
# the hooks against redis-server, PostgreSQL, MariaDB and an HTTP server of
# its own, which scripts/with-servers.sh starts (make hooks-servers). Each
# library found (pkg-config) is in; the static build has those with a
# static archive whose own dependencies have one too: hiredis and
# libmariadb (libpq.a needs libgssapi_krb5 and libldap, libcurl.a nghttp2,
# rtmp, ssh2, psl, gssapi and ldap, none shipped as .a by Debian).
HS_PKGS := hiredis libpq libmariadb libcurl
HS_DEF_hiredis := CORO_HAVE_HIREDIS
HS_DEF_libpq := CORO_HAVE_LIBPQ
HS_DEF_libmariadb := CORO_HAVE_MARIADB
HS_DEF_libcurl := CORO_HAVE_CURL
HS_FLAGS := $(foreach p,$(HS_PKGS),$(shell pkg-config --exists $(p) 2>/dev/null && \
              echo -D$(HS_DEF_$(p)) $$(pkg-config --cflags --libs $(p))))
HS_STATIC_FLAGS := $(shell test -f /usr/lib/x86_64-linux-gnu/libhiredis.a && \
                     echo -DCORO_HAVE_HIREDIS -l:libhiredis.a) \
                   $(shell test -f /usr/lib/x86_64-linux-gnu/libmariadb.a && \
                     echo -DCORO_HAVE_MARIADB $$(pkg-config --cflags libmariadb) \
                       -l:libmariadb.a -lssl -lcrypto -lz -lm)

$(B)/hooks_servers_test: csrc/test/hooks_servers_test.c $(B)/libcoro_hooks.a $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihooks $< \
	  -Wl,--whole-archive $(B)/libcoro_hooks.a -Wl,--no-whole-archive \
	  $(B)/libcoro.a $(HS_FLAGS) -lpthread -ldl -o $@

# Static glibc warns at link time that getaddrinfo needs its shared NSS
# modules at run time: the tests give numeric addresses only.
$(B)/hooks_servers_test_static: csrc/test/hooks_servers_test.c $(B)/libcoro_hooks.a $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihooks $< $(B)/libcoro_hooks.a $(B)/libcoro.a \
	  -static $(HS_STATIC_FLAGS) -lpthread -ldl -o $@ 2>&1 | \
	  { grep -v -e 'statically linked applications requires at runtime' -e ': in function ' || true; }
	@test -x $@

# The native, ASan+UBSan and static programs, one after the other, against
# one set of servers; every one runs even when another fails. Natively in
# both stack modes; ASan in guarded mode and the static one in shared mode
# (make test's CPU budget: about 30 CPU-seconds with the servers' own;
# hooks_test runs the hooks under ASan in both modes).
hooks-servers:
	$(MAKE) --no-print-directory V=native build/native/hooks_servers_test build/native/hooks_servers_test_static
	$(MAKE) --no-print-directory V=asan build/asan/hooks_servers_test
	scripts/with-servers.sh sh -c 'rc=0; \
	  build/native/hooks_servers_test || rc=1; \
	  env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    build/asan/hooks_servers_test /guarded || rc=1; \
	  build/native/hooks_servers_test_static /shared || rc=1; exit $$rc'

# The demonstration: a blocking C client 200 at once on one thread,
# hooks on then off (coro hookdemo; needs only a C compiler).
demo-hooks:
	go run ./cmd/coro hookdemo

# The benchmark (opt-in, minutes): hiredis on 10,000 threads vs coroutines
# on one loop, GET throughput vs redis-benchmark (scripts/bench-hooks.sh).
bench-hooks:
	scripts/bench-hooks.sh

.PHONY: hooks-servers demo-hooks bench-hooks
# --- hooks benchmark's Go peers (bench/hooks/gohooks) ---
# A module of its own (hiredis is no requirement of the coro module): go
# vet, then its cgo and Group peers with 20 clients against a redis of
# their own (make test: after the soak, when the soak has put the coro
# packages, native, in Go's build cache; about 5 CPU-seconds).
hooks-peers-smoke:
	@if ! pkg-config --exists hiredis; then \
	  if [ -n "$$CI" ]; then echo "hooks-peers-smoke: no hiredis (libhiredis-dev): .ci/install-deps test installs it" >&2; exit 1; fi; \
	  echo "hooks-peers-smoke: skipped, no hiredis (libhiredis-dev)"; exit 0; fi; \
	  (cd bench/hooks/gohooks && go vet . && go build -o ../../../build/gohooks .) && \
	  WITH_SERVERS=redis scripts/with-servers.sh sh -c 'rc=0; for m in cgo group group-shared; do \
	    line=$$(build/gohooks blpop $$m 20 $$CORO_REDIS_PORT) || rc=1; echo "gohooks blpop $$m 20: $$line"; \
	  done; exit $$rc'
.PHONY: hooks-peers-smoke
# --- hooks tests' shared helpers ---
# hooks_test and hooks_servers_test share their loops and loopback server
# (csrc/test/hooks_testing.h, a header of static functions).
$(B)/hooks_test $(B)/hooks_test_static $(B)/hooks_servers_test $(B)/hooks_servers_test_static: csrc/test/hooks_testing.h
# --- httpc: the HTTP/1.1 client (httpc/, Go package github.com/ccoro/coro/httpc) ---
# libcoro_http.a is the client without TLS (tls_off.c); its C tests run
# in every variant's check-c against servers of their own on loopback.
HTTPC_C     := $(filter-out httpc/tls_on.c,$(wildcard httpc/*.c))
HTTPC_O     := $(patsubst httpc/%,$(B)/httpc/%.o,$(HTTPC_C))
HTTPC_TESTS := url_test resp_test client_test

$(B)/httpc/%.c.o: httpc/%.c $(wildcard httpc/*.h) $(HEADERS)
	@mkdir -p $(B)/httpc
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihttpc -c $< -o $@

$(B)/libcoro_http.a: $(HTTPC_O)
	rm -f $@
	ar rcs $@ $^

$(addprefix $(B)/,$(HTTPC_TESTS)): $(B)/%: httpc/test/%.c $(B)/libcoro_http.a $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihttpc -Icsrc/test $< $(B)/libcoro_http.a $(B)/libcoro.a -lpthread -o $@

all: $(B)/libcoro_http.a $(addprefix $(B)/,$(HTTPC_TESTS))
TESTS_RUN += $(HTTPC_TESTS)

# The coro side of make bench-httpc (scripts/bench-httpc.sh).
$(B)/httpc_bench: bench/httpc/httpc_bench.c $(B)/libcoro_http.a $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihttpc $< $(B)/libcoro_http.a $(B)/libcoro.a -lpthread -o $@

bench-httpc:
	scripts/bench-httpc.sh

.PHONY: bench-httpc fuzz-resp fuzz-url test-fuzz-httpc

# --- bench-httpc over TLS ---
# httpc_bench_tls: the same client with TLS (tls_on.c for tls_off.c, the
# tls package's C, OpenSSL); make bench-httpc-tls runs the benchmark over
# HTTPS (TLS=1 scripts/bench-httpc.sh). Not in CI.
$(B)/httpc_bench_tls: bench/httpc/httpc_bench.c $(HTTPC_C) httpc/tls_on.c tls/tls.c tls/coro_tls.h $(wildcard httpc/*.h) $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Ihttpc -Itls $< $(filter-out httpc/tls_off.c,$(HTTPC_C)) \
	  httpc/tls_on.c tls/tls.c $(B)/libcoro.a -lssl -lcrypto -lpthread -o $@

bench-httpc-tls:
	TLS=1 scripts/bench-httpc.sh
.PHONY: bench-httpc-tls

$(B)/switch_test: csrc/test/switch_test.c $(SWITCH_O) $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(SWITCH_O) -lpthread -o $@

$(B)/stack_test: csrc/test/stack_test.c $(B)/stack.c.o $(B)/fault.c.o $(B)/crash.c.o $(B)/backtrace.c.o $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(B)/stack.c.o $(B)/fault.c.o $(B)/crash.c.o $(B)/backtrace.c.o -lpthread -o $@

# The core_test tests ThreadSanitizer runs (substrings of their names):
# those where other threads meet a loop (posts, remote spawns, stop and
# close from other threads; remote_across_close is Close racing spawns).
# The rest only repeat what the other variants check, at TSan's cost per
# coroutine (see coro.c). io_test adds the wake of an fd wait from another
# thread, tsan_test checks that TSan sees coroutines as fibers.
TSAN_TESTS := post_ remote_ loop_per_thread loop_stop shutdown_posts \
              cancel_wakes_sleeper no_loop join cloexec

# The runs of one variant, as label/command pairs for .ci/parallel: each
# program alone, io_test split by poll backend (its slowest half under
# valgrind and qemu). Each program prints "N passed, N failed" and exits
# non-zero on failure. overflow_test is a child of core_test.
ifeq ($(V),tsan)
C_RUNS := "tsan core_test" "$(RUN) $(B)/core_test $(TSAN_TESTS)" \
          "tsan io_test" "$(RUN) $(B)/io_test wake_by_other_thread" \
          "tsan tsan_test" "$(RUN) $(B)/tsan_test"
else
C_RUNS := $(foreach t,$(filter-out io_test,$(TESTS_RUN)),"$(V) $(t)" "$(RUN) $(B)/$(t)") \
          "$(V) io_test/epoll" "$(RUN) $(B)/io_test /epoll" \
          "$(V) io_test/poll" "$(RUN) $(B)/io_test /poll"
endif
ifeq ($(V),native)
C_RUNS += "native hooks_test_static" "$(B)/hooks_test_static"
check-c: $(B)/hooks_test_static
endif
CJOBS ?= 2

# Run the C tests of one variant, CJOBS programs at a time.
check-c: all
	@CORO_TEST_RUN="$(RUN)" CORO_OVERFLOW_TEST=$(B)/overflow_test \
	  .ci/parallel $(CJOBS) $(C_RUNS)

test-c:
	$(MAKE) V=native check-c

test-ucontext:
	$(MAKE) V=ucontext check-c

test-asan:
	$(MAKE) V=asan check-c

test-valgrind:
	$(MAKE) V=valgrind check-c

test-tsan:
	$(MAKE) V=tsan check-c

# The Go tests, never running the C programs again (make runs them).
# -timeout is each test binary's budget. go test's default (10m) cut the
# root package's -race run short (its module builds included) with the
# stages side by side on a machine loaded by other work (load average 22);
# every wait inside a test has its own bound.
GOTIMEOUT := 30m
GOTEST := env CORO_SKIP_CTESTS='make runs the C tests itself' go test -count=1 -timeout $(GOTIMEOUT)

# What go-ucontext adds to c-ucontext (the engine's C tests over the
# portable switch) and go-race (the same Go tests over the assembly one):
# the Go boundary over the portable switch, i.e. the root package's tests
# (callbacks into Go, signals and the CPU profiler's SIGPROF arriving
# during swapcontext, overflow reports, fd waits, sendfile, Group, Close),
# the examples, and cmd/coro built the way a user picks the switch (go
# build -tags coro_ucontext), whose tests run the demos, coro echo, coro
# httpd and coro load over it. The other packages that link the engine
# (internal/httpd, internal/netdemo, internal/demos, internal/dnsmsg,
# internal/cbench, bench/io/cclients) test C code above the engine's API,
# which the switch does not change: go-race runs them. Skipped here as
# repeats of go-race's runs: TestStaticBuild (builds testdata/static
# without the tag, exactly as go-race does), TestPotatoTooManyStacks (the
# mapping limit's error message), and the external-module builds (built
# without the tag).
UCONTEXT_PKGS := . ./cmd/coro ./examples/...
UCONTEXT_SKIP := ^(TestStaticBuild|TestPotatoTooManyStacks)$$

test-arm64: test-arm64-c test-arm64-go

test-arm64-c:
	$(MAKE) -j2 V=arm64 check-c

# qemu-user (7.2, Debian 12) can leave a forked child of a many-threaded
# guest asleep in a futex before its exec, and the parent then waits for
# the exec for good: seen once in about 15 runs (2026-12-03, the child of
# TestCrashReport; both threads of the child in futex_wait, the parent in
# os/exec's read of the exec pipe), never natively. So each package that
# fails here is run once more and both runs are shown: a failure that
# repeats fails the stage, and the first run's failure stays in the log.
# A hang costs ARM64_TIMEOUT (the root package needs about 5 minutes).
ARM64_TIMEOUT ?= 15m
ARM64_GO = CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc CORO_SKIP_CTESTS=1 \
	  CORO_TEST_EXEC="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
	  go test -exec "qemu-aarch64 -L /usr/aarch64-linux-gnu" -count=1 -timeout $(ARM64_TIMEOUT)
test-arm64-go:
	@out=$$(mktemp); \
	{ $(ARM64_GO) ./... 2>&1; echo $$? >$$out.rc; } | tee $$out; \
	rc=$$(cat $$out.rc); \
	pkgs=$$(awk '$$1 == "FAIL" && $$2 ~ /^github\.com\// {print $$2}' $$out); \
	rm -f $$out $$out.rc; \
	[ "$$rc" = 0 ] && exit 0; \
	[ -n "$$pkgs" ] || exit "$$rc"; \
	echo "== test-arm64-go: running the failed packages once more (qemu-user: see the Makefile):" $$pkgs; \
	$(ARM64_GO) $$pkgs

go-lint:
	go vet $(VETFLAGS) ./...
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

# make test's go-lint: the same vet with -race (VETFLAGS), so that it
# compiles exactly the packages and the C that go-race's tests then find
# in Go's build cache. A plain go vet compiled the whole module a second
# time, natively, for vet alone (on a fresh machine about 80 CPU seconds,
# 36 more for the TLS-tagged packages); the native build left is the
# soak's and the users' module builds of the module tests. The one file
# -race leaves out, internal/crashchild's norace_test.go, is a single
# constant (raceEnabled = false): vetting it natively would compile the
# engine and the root package natively once more.
go-lint-race: VETFLAGS := -race
go-lint-race: go-lint

go-race:
	$(GOTEST) -race ./...

go-ucontext:
	CORO_SKIP_MODULE_TESTS="the go-race stage built them" $(GOTEST) -tags coro_ucontext \
	  -skip '$(UCONTEXT_SKIP)' $(UCONTEXT_PKGS)

test-go: go-lint go-race go-ucontext

# --- tls ---
# TLS (OpenSSL: tls/, httpc/tls_on.c, internal/httpd/tls_on.c) is built
# only with the build tag coro_openssl, so that `go get` needs no more
# than a C compiler; go-lint and go-race build and test it with the tag
# too: vet of the packages it touches, the tls and httpc tests, and the
# HTTPS tests of coro httpd (certificates made by openssl per test):
# about 20 CPU seconds with the build cache warm (tls 7, httpc 5, httpd 8).
TLS_TAGS := -tags coro_openssl
TLS_PKGS := ./tls/... ./httpc/... ./internal/httpd/... ./internal/tlstest/... ./cmd/coro/...
go-lint: go-lint-tls
go-lint-tls:
	go vet $(VETFLAGS) $(TLS_TAGS) $(TLS_PKGS)
go-race: go-race-tls
go-race-tls:
	$(GOTEST) -race $(TLS_TAGS) ./tls/... ./httpc/...
	$(GOTEST) -race $(TLS_TAGS) -run HTTPS ./internal/httpd
# tls_test: the tls package's C with its fixture, in the C variants that
# have this machine's OpenSSL (not the arm64 cross build, which has no
# libssl of its arch; not tsan, which runs only the cross-thread tests).
ifneq ($(filter $(V),native asan valgrind ucontext),)
$(B)/tls_test: tls/test/tls_test.c tls/tls.c tls/coro_tls.h internal/tlstest/fixture.c internal/tlstest/fixture.h $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -Itls -Iinternal/tlstest -Icsrc/test $< tls/tls.c \
	  internal/tlstest/fixture.c $(B)/libcoro.a -lssl -lcrypto -lpthread -o $@
all: $(B)/tls_test
C_RUNS += "$(V) tls_test" "$(RUN) $(B)/tls_test"
endif
# The tls package's tests under ASan with LeakSanitizer (the C of tls/ and
# its fixtures, fault sweeps included): about 12 CPU seconds, by hand.
go-asan-tls:
	$(GOTEST) -asan $(TLS_TAGS) ./tls/...
# make bench-tls: coro httpd's HTTPS against nginx's (scripts/bench-tls.sh).
bench-tls:
	scripts/bench-tls.sh
.PHONY: go-lint-tls go-race-tls go-asan-tls bench-tls

# The soak: connection churn against coro httpd with its fds and RSS
# sampled each second (internal/soak). make test runs the
# 60 s one; make soak the long one.
SOAK_TIME ?= 10m
test-soak:
	CORO_SOAK=60s go test -count=1 -run '^TestSoak$$' -v -timeout 5m ./internal/soak

soak:
	CORO_SOAK=$(SOAK_TIME) go test -count=1 -run '^TestSoak$$' -v -timeout 0 ./internal/soak

# The stages of make check and make test, each timed by .ci/stage, run
# LANES at a time by .ci/parallel, each stage's output printed whole when
# it ends. Most stages are single programs or keep one CPU busy at best
# (C test programs two at a time, go test a package or two at a time,
# waits for timeouts and the soak's paced churn), so one stage at a time
# left a 2-CPU machine half idle. A failed stage does not stop the others:
# one run reports every failure, and the summary (the table of the stages'
# times, then the FAILED stages) fails the target.
LANES ?= 2
# stage NAME, TARGET: a label and a command for .ci/parallel.
stage = "$(1)" ".ci/stage $(1) $(MAKE) --no-print-directory $(2)"
# Run the stages given (label/command pairs), then print the summary; fail
# if a stage failed or .ci/parallel could not run them.
# BESIDE: how many of the first stages run beside the LANES, not in them
# (see .ci/parallel --beside).
BESIDE ?= 0
run-stages = .ci/stage --reset; .ci/parallel --as-done --beside $(BESIDE) $(LANES) $(1); rc=$$?; \
	.ci/stage --summary && exit $$rc

# make check: the native C tests beside go vet and gofmt then go test (in
# that order: go test reuses the packages vet compiled).
check:
	@$(call run-stages,$(call stage,c-native,-j2 V=native check-c) \
	  "go-lint then go-test" ".ci/stage go-lint $(MAKE) --no-print-directory go-lint; \
	    .ci/stage go-test $(GOTEST) ./..." )

# libFuzzer harnesses (clang only; bash .ci/install-deps fuzz). Crashes and
# other findings go to fuzz/crashes/.
FUZZCC     ?= clang
FUZZFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_HTTP  := build/fuzz/http_parse_fuzz
FUZZ_HTTP_CORPUS := fuzz/corpus/http_parse
FUZZ_DNS   := build/fuzz/dns_msg_fuzz
FUZZ_DNS_CORPUS := fuzz/corpus/dns_msg
FUZZ_MIME  := build/fuzz/mime_types_fuzz
FUZZ_MIME_CORPUS := fuzz/corpus/mime_types
FUZZ_TIME  ?= 60

$(FUZZ_HTTP): fuzz/http_parse_fuzz.c fuzz/fuzz_check.h internal/httpd/http_parse.c internal/httpd/http_parse.h
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) fuzz/http_parse_fuzz.c internal/httpd/http_parse.c -o $@

$(FUZZ_DNS): fuzz/dns_msg_fuzz.c fuzz/fuzz_check.h csrc/dns_msg.c csrc/dns_conf.c csrc/dns_internal.h
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) fuzz/dns_msg_fuzz.c csrc/dns_msg.c csrc/dns_conf.c -o $@

$(FUZZ_MIME): fuzz/mime_types_fuzz.c fuzz/fuzz_check.h internal/httpd/mime.c internal/httpd/mime.h
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) fuzz/mime_types_fuzz.c internal/httpd/mime.c -o $@

fuzz-http: $(FUZZ_HTTP)
	@mkdir -p fuzz/crashes
	$(FUZZ_HTTP) $(FUZZ_HTTP_CORPUS) -dict=fuzz/http.dict -max_len=32768 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

fuzz-dns: $(FUZZ_DNS)
	@mkdir -p fuzz/crashes
	$(FUZZ_DNS) $(FUZZ_DNS_CORPUS) -dict=fuzz/dns.dict -max_len=4096 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

fuzz-mime: $(FUZZ_MIME)
	@mkdir -p fuzz/crashes
	$(FUZZ_MIME) $(FUZZ_MIME_CORPUS) -max_len=4096 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

test-fuzz-corpus: $(FUZZ_HTTP) $(FUZZ_DNS) $(FUZZ_MIME)
	$(FUZZ_HTTP) $(FUZZ_HTTP_CORPUS) -runs=0
	$(FUZZ_DNS) $(FUZZ_DNS_CORPUS) -runs=0
	$(FUZZ_MIME) $(FUZZ_MIME_CORPUS) -runs=0

# --- httpc fuzzing: the response parser and the URL code ---
FUZZ_RESP        := build/fuzz/resp_fuzz
FUZZ_RESP_CORPUS := fuzz/corpus/resp
FUZZ_URL         := build/fuzz/url_fuzz
FUZZ_URL_CORPUS  := fuzz/corpus/url

$(FUZZ_RESP): fuzz/resp_fuzz.c fuzz/fuzz_check.h httpc/resp.c httpc/coro_http.h csrc/fault.c
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) -Icsrc -Ihttpc fuzz/resp_fuzz.c httpc/resp.c csrc/fault.c -o $@

$(FUZZ_URL): fuzz/url_fuzz.c fuzz/fuzz_check.h httpc/url.c httpc/coro_http.h csrc/fault.c
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) -Icsrc -Ihttpc fuzz/url_fuzz.c httpc/url.c csrc/fault.c -o $@

fuzz-resp: $(FUZZ_RESP)
	@mkdir -p fuzz/crashes
	$(FUZZ_RESP) $(FUZZ_RESP_CORPUS) -max_len=8192 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

fuzz-url: $(FUZZ_URL)
	@mkdir -p fuzz/crashes
	$(FUZZ_URL) $(FUZZ_URL_CORPUS) -max_len=1024 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

test-fuzz-corpus: test-fuzz-httpc
test-fuzz-httpc: $(FUZZ_RESP) $(FUZZ_URL)
	$(FUZZ_RESP) $(FUZZ_RESP_CORPUS) -runs=0
	$(FUZZ_URL) $(FUZZ_URL_CORPUS) -runs=0

# make test's stages. Two of them mostly wait: hooks-servers (servers
# starting and clients parked in them: about 40 s of CPU in 105 s) and
# the soak (a minute of paced churn, 17 s of CPU). They run one after the
# other beside the two lanes (BESIDE=1), from the start: hooks-servers
# first, because it builds build/native and build/asan objects that
# c-native and c-asan, minutes later, then find made (two makes building
# one directory at once would race), and the soak after it. The other stages
# run two at a time, longest first so that the short ones fill the end
# (times in the README). go-lint and go-race share a lane, vet first:
# vet -race compiles the packages that go test -race then finds in the
# build cache (side by side, two go commands compiling the same package
# both do the work), while arm64-go compiles the other lane's from the
# start.
TEST_STAGES := \
  "hooks-servers then soak-60s" ".ci/stage hooks-servers $(MAKE) --no-print-directory hooks-servers; \
    rc=$$?; .ci/stage soak-60s $(MAKE) --no-print-directory test-soak || rc=1; \
    .ci/stage hooks-peers $(MAKE) --no-print-directory hooks-peers-smoke || rc=1; exit $$rc" \
  "go-lint then go-race" ".ci/stage go-lint $(MAKE) --no-print-directory go-lint-race; \
    rc=$$?; .ci/stage go-race $(MAKE) --no-print-directory go-race || rc=1; exit $$rc" \
  $(call stage,arm64-go,test-arm64-go) \
  $(call stage,c-valgrind,-j2 V=valgrind check-c) \
  $(call stage,c-asan,-j2 V=asan check-c) \
  $(call stage,arm64-c,test-arm64-c) \
  $(call stage,c-ucontext,-j2 V=ucontext check-c) \
  $(call stage,go-ucontext,go-ucontext) \
  $(call stage,c-native,-j2 V=native check-c) \
  $(call stage,c-tsan,-j2 V=tsan check-c) \
  $(call stage,fuzz-corpus,test-fuzz-corpus)

test: BESIDE := 1
test:
	@$(call run-stages,$(TEST_STAGES))

bench:
	scripts/bench.sh
bench-io:
	scripts/bench-io.sh
bench-dns:
	scripts/bench-dns.sh

clean:
	rm -rf build

.PHONY: all check check-c test test-c test-ucontext test-asan test-valgrind test-tsan test-arm64 \
	test-arm64-c test-arm64-go \
	test-go go-lint go-lint-race go-race go-ucontext test-soak soak bench clean fuzz-http fuzz-dns fuzz-mime test-fuzz-corpus bench-io bench-dns

# --- crawl ---
# The crawler's C tests (internal/crawl): crawl_test (the pure parts:
# URLs, robots.txt, links, seen-set, filter) and crawl_run_test (the crawl
# over a fake fetcher, with the engine). Run by check-c in every variant;
# under tsan only the crawls on several loops.
# urlnorm.c calls httpc's URL code (httpc/url.c), which allocates through
# the engine's fault points (csrc/fault.c).
CRAWL_PURE := $(addprefix internal/crawl/,urlnorm.c robots.c links.c seen.c filter.c) httpc/url.c
CRAWL_RUN  := $(CRAWL_PURE) $(addprefix internal/crawl/,frontier.c zone.c output.c)
CRAWL_DEPS := internal/crawl/crawl.h csrc/test/testing.h httpc/coro_http.h

$(B)/crawl_test: internal/crawl/ctest/crawl_test.c $(CRAWL_PURE) $(CRAWL_DEPS) csrc/fault.c
	@mkdir -p $(B)
	$(XCC) $(CFLAGS_BASE) -Icsrc/test -Ihttpc $(XFLAGS) $< $(CRAWL_PURE) csrc/fault.c -lpthread -o $@

$(B)/crawl_run_test: internal/crawl/ctest/crawl_run_test.c $(CRAWL_RUN) $(CRAWL_DEPS) $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) -Icsrc/test -Ihttpc $(XFLAGS) $< $(CRAWL_RUN) $(B)/libcoro.a -lpthread -o $@

ifneq ($(V),tsan)
check-c: $(B)/crawl_test $(B)/crawl_run_test
C_RUNS += "$(V) crawl_test" "$(RUN) $(B)/crawl_test" "$(V) crawl_run_test" "$(RUN) $(B)/crawl_run_test"
else
# tsan: the crawls on several loops (hand-offs, the end, the stop).
check-c: $(B)/crawl_run_test
C_RUNS += "tsan crawl_run_test" "$(RUN) $(B)/crawl_run_test crawl_site_loops crawl_stop_thread"
endif

# The crawler's libFuzzer harnesses: robots.txt, and links with URL
# resolution (corpora in fuzz/corpus/robots and fuzz/corpus/links).
FUZZ_ROBOTS := build/fuzz/robots_fuzz
FUZZ_LINKS  := build/fuzz/links_fuzz

CRAWL_URL_C := internal/crawl/urlnorm.c httpc/url.c csrc/fault.c
CRAWL_URL_H := internal/crawl/crawl.h httpc/coro_http.h

$(FUZZ_ROBOTS): fuzz/robots_fuzz.c fuzz/fuzz_check.h internal/crawl/robots.c $(CRAWL_URL_C) $(CRAWL_URL_H)
	@mkdir -p build/fuzz
	$(FUZZCC) $(FUZZFLAGS) -Icsrc -Ihttpc fuzz/robots_fuzz.c internal/crawl/robots.c $(CRAWL_URL_C) -o $@

$(FUZZ_LINKS): fuzz/links_fuzz.c fuzz/fuzz_check.h internal/crawl/links.c $(CRAWL_URL_C) $(CRAWL_URL_H)
	@mkdir -p build/fuzz
	$(FUZZCC) $(FUZZFLAGS) -Icsrc -Ihttpc fuzz/links_fuzz.c internal/crawl/links.c $(CRAWL_URL_C) -o $@

fuzz-robots: $(FUZZ_ROBOTS)
	@mkdir -p fuzz/crashes
	$(FUZZ_ROBOTS) fuzz/corpus/robots -max_len=8192 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

fuzz-links: $(FUZZ_LINKS)
	@mkdir -p fuzz/crashes
	$(FUZZ_LINKS) fuzz/corpus/links -max_len=8192 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

test-fuzz-corpus: test-fuzz-corpus-crawl
test-fuzz-corpus-crawl: $(FUZZ_ROBOTS) $(FUZZ_LINKS)
	$(FUZZ_ROBOTS) fuzz/corpus/robots -runs=0
	$(FUZZ_LINKS) fuzz/corpus/links -runs=0

.PHONY: fuzz-robots fuzz-links test-fuzz-corpus-crawl

# The crawler's benchmark: coro crawl vs a Go crawler vs wget --recursive
# on the generated site, same run, medians (scripts/bench-crawl.sh).
bench-crawl:
	scripts/bench-crawl.sh

.PHONY: bench-crawl

# --- callgrind-yield: instructions per coro_yield (opt-in) ---
# The switch path's cost counted by callgrind, immune to the machine's
# load: REVS="053b972^ main ." compares revisions (scripts/callgrind-yield.sh).
bench-yield-callgrind:
	scripts/callgrind-yield.sh $(REVS)
.PHONY: bench-yield-callgrind
