# coro - build the C engine as a static library and run every test.
#
#   make              libcoro.a and the C test programs (build/native)
#   make test         everything CI runs: C tests (native, ucontext switch,
#                     ASan+UBSan, valgrind, arm64 under qemu), go test -race
#                     and the replay of the fuzz corpus
#   make test-c       the C tests, native build only
#   make bench        the benchmark table (scripts/bench.sh)
#   make fuzz-http    fuzz the HTTP request parser with libFuzzer for
#                     FUZZ_TIME seconds (default 60),
#                     adding new inputs to fuzz/corpus/http_parse
#   make fuzz-dns     the same for the DNS message decoder and the
#                     resolv.conf/hosts parsers (fuzz/corpus/dns_msg)
#   make test-fuzz-corpus
#                     replay both corpora through their harnesses
#                     (part of make test; needs clang: install-deps fuzz)
#
# Variants build into build/<variant>/ so they never mix objects:
#   native    -O2 with the assembly switch
#   ucontext  the portable getcontext/swapcontext switch
#   asan      -fsanitize=address,undefined
#   arm64     cross-built with aarch64-linux-gnu-gcc, run under qemu-aarch64

CC       ?= cc
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Icsrc
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
HEADERS   := $(wildcard csrc/*.h) $(wildcard csrc/*.inc) csrc/test/testing.h
SWITCH_O  := $(B)/switch_ucontext.c.o $(patsubst csrc/%,$(B)/%.o,$(ENGINE_S))

# Test programs that link the whole engine, and the two that test one file.
ENGINE_TESTS := core_test sync_test overflow_test io_test fault_test dns_test
TESTS_RUN    := switch_test stack_test core_test sync_test io_test fault_test dns_test

all: $(B)/libcoro.a $(addprefix $(B)/,$(ENGINE_TESTS) switch_test stack_test)

$(B)/%.c.o: csrc/%.c $(HEADERS)
	@mkdir -p $(B)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -c $< -o $@

$(B)/%.S.o: csrc/%.S csrc/switch.h
	@mkdir -p $(B)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) -c $< -o $@

$(B)/libcoro.a: $(ENGINE_O)
	rm -f $@
	ar rcs $@ $^

$(B)/core_test $(B)/sync_test $(B)/overflow_test $(B)/io_test $(B)/fault_test $(B)/dns_test: $(B)/%: csrc/test/%.c $(B)/libcoro.a $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(B)/libcoro.a -lpthread -o $@

$(B)/switch_test: csrc/test/switch_test.c $(SWITCH_O) $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(SWITCH_O) -lpthread -o $@

$(B)/stack_test: csrc/test/stack_test.c $(B)/stack.c.o $(B)/fault.c.o $(HEADERS)
	$(XCC) $(CFLAGS_BASE) $(XFLAGS) $< $(B)/stack.c.o $(B)/fault.c.o -lpthread -o $@

# Run the C tests of one variant. Each program prints "N passed, N failed"
# and exits non-zero on failure. overflow_test is a child of core_test.
check-c: all
	@set -e; for t in $(TESTS_RUN); do \
	  echo "== $(V) $$t"; \
	  CORO_TEST_RUN="$(RUN)" CORO_OVERFLOW_TEST=$(B)/overflow_test $(RUN) $(B)/$$t; \
	done

test-c:
	$(MAKE) V=native check-c

test-ucontext:
	$(MAKE) V=ucontext check-c

test-asan:
	$(MAKE) V=asan check-c

test-valgrind:
	$(MAKE) V=valgrind check-c

test-arm64:
	$(MAKE) V=arm64 check-c
	CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc CORO_SKIP_CTESTS=1 \
	  CORO_TEST_EXEC="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
	  go test -exec "qemu-aarch64 -L /usr/aarch64-linux-gnu" -count=1 ./...

test-go:
	go vet ./...
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	go test -race -count=1 ./...
	go test -count=1 -tags coro_ucontext ./...

# libFuzzer harnesses (clang only; bash .ci/install-deps fuzz). Crashes and
# other findings go to fuzz/crashes/.
FUZZCC     ?= clang
FUZZFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_HTTP  := build/fuzz/http_parse_fuzz
FUZZ_HTTP_CORPUS := fuzz/corpus/http_parse
FUZZ_DNS   := build/fuzz/dns_msg_fuzz
FUZZ_DNS_CORPUS := fuzz/corpus/dns_msg
FUZZ_TIME  ?= 60

$(FUZZ_HTTP): fuzz/http_parse_fuzz.c fuzz/fuzz_check.h internal/httpd/http_parse.c internal/httpd/http_parse.h
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) fuzz/http_parse_fuzz.c internal/httpd/http_parse.c -o $@

$(FUZZ_DNS): fuzz/dns_msg_fuzz.c fuzz/fuzz_check.h csrc/dns_msg.c csrc/dns_conf.c csrc/dns_internal.h
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) fuzz/dns_msg_fuzz.c csrc/dns_msg.c csrc/dns_conf.c -o $@

fuzz-http: $(FUZZ_HTTP)
	@mkdir -p fuzz/crashes
	$(FUZZ_HTTP) $(FUZZ_HTTP_CORPUS) -dict=fuzz/http.dict -max_len=32768 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

fuzz-dns: $(FUZZ_DNS)
	@mkdir -p fuzz/crashes
	$(FUZZ_DNS) $(FUZZ_DNS_CORPUS) -dict=fuzz/dns.dict -max_len=4096 \
	  -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz/crashes/ -print_final_stats=1

test-fuzz-corpus: $(FUZZ_HTTP) $(FUZZ_DNS)
	$(FUZZ_HTTP) $(FUZZ_HTTP_CORPUS) -runs=0
	$(FUZZ_DNS) $(FUZZ_DNS_CORPUS) -runs=0

test: test-c test-ucontext test-asan test-valgrind test-go test-fuzz-corpus test-arm64

bench:
	scripts/bench.sh
bench-io:
	scripts/bench-io.sh

clean:
	rm -rf build

.PHONY: all check-c test test-c test-ucontext test-asan test-valgrind test-arm64 test-go bench clean \
	fuzz-http fuzz-dns test-fuzz-corpus bench-io
