#!/usr/bin/env bash
# bench-crawl.sh - the crawler benchmark of issue 11 (make bench-crawl):
# the generated site of internal/crawl/crawlsite (24 host names, 10,080
# pages, robots.txt files, redirects, broken links), served on loopback by
# bench/crawl/crawlbench, crawled in the same run by
#   coro    coro crawl -c $C -per-host $PER_HOST (one loop, C coroutines)
#   go      bench/crawl/gocrawl: net/http + golang.org/x/net/html, $C
#           goroutines, the same rules (its own module: x/net is no
#           requirement of coro's)
#   wget    wget --recursive (Debian's wget; one page at a time, through
#           the server as a proxy since it cannot be given a hosts file)
# $COUNT runs each, interleaved; pages/s and CPU per page (the client's
# user + system time), medians and the ratios to coro. The clients run on
# CPU 1 (taskset) and the server on CPU 0 when the machine has two CPUs.
#
# Environment: COUNT=5, C=16, PER_HOST=2, LOOPS=0 (N > 0: also coro
# crawl -loops N, the clients then on every CPU but the server's).
# Target (issue 11): coro >= 2x the Go crawler's pages per CPU-second.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
C=${C:-16}
PER_HOST=${PER_HOST:-2}
LOOPS=${LOOPS:-0}
mkdir -p build
go build -o build/coro ./cmd/coro
(cd bench/crawl/gocrawl && go build -o ../../../build/gocrawl .)
go build -o build/crawlbench ./bench/crawl/crawlbench
WGET=wget
command -v wget >/dev/null || { echo "note: no wget (bash .ci/install-deps http): left out"; WGET=; }
if [ "$(nproc)" -ge 2 ]; then
  exec taskset -c 0 build/crawlbench -count "$COUNT" -c "$C" -per-host "$PER_HOST" -wget "$WGET" \
    -loops "$LOOPS" -cpu "1-$(($(nproc) - 1))"
fi
exec build/crawlbench -count "$COUNT" -c "$C" -per-host "$PER_HOST" -wget "$WGET" -loops "$LOOPS"
