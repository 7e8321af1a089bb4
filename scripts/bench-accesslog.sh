#!/usr/bin/env bash
# bench-accesslog.sh - what the access log costs coro httpd, beside what
# it costs nginx, in the same run: a 1 KiB file, wrk -t1 -c64 for $DUR
# seconds, each server with its log off and on (combined format, to a
# file), $REPS interleaved runs of each; prints the median requests/s and
# each server's drop from logging (1 - on/off), and the median server CPU
# per request (all threads) with its rise. A benchmark, not a test.
#
#   scripts/bench-accesslog.sh
#
# The server runs on CPU 0 (one loop; nginx one worker, no master), wrk on
# CPU 1. nginx logs with "buffer=64k flush=1s", the buffering coro's log
# always has (64 KiB per loop, written each second); without it nginx
# writes each line with a write(2) of its own.
#
# Environment: DUR=3 (seconds a run), REPS=3, OUT=dir (keep the raw
# outputs; default a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
DUR=${DUR:-3}
REPS=${REPS:-3}
bench_out
mkdir -p "$OUT/root" "$OUT/nginx"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
bench_need wrk taskset "$NGINX"
head -c 1024 /dev/urandom >"$OUT/root/1k.bin"
go build -o "$OUT/coro" ./cmd/coro

PORT=$((20000 + RANDOM % 20000))

nginx_conf() { # PORT LOG
  local log="access_log off;"
  [ "$2" = on ] && log="access_log $OUT/nginx/access.log combined buffer=64k flush=1s;"
  NGINX_ACCESS_LOG=$log bench_nginx_conf "$OUT/nginx" "$1" "$OUT/root"
}

run() { # SERVER LOG REP
  PORT=$((PORT + 1))
  rm -f "$OUT/coro-access.log" "$OUT/nginx/access.log"
  if [ "$1" = nginx ]; then
    nginx_conf "$PORT" "$2"
    taskset -c 0 "$NGINX" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" >"$OUT/srv.log" 2>&1 &
  else
    local flags=()
    [ "$2" = on ] && flags=(-access-log "$OUT/coro-access.log" -log-format combined)
    taskset -c 0 "$OUT/coro" httpd -loops 1 -root "$OUT/root" -addr "127.0.0.1:$PORT" "${flags[@]}" >"$OUT/srv.log" 2>&1 &
  fi
  SPID=$!
  bench_wait_port "$PORT" || { echo "bench-accesslog.sh: $1 did not start" >&2; cat "$OUT/srv.log" >&2; bench_stop; return 1; }
  local log="$OUT/wrk-$1-$2-$3.txt"
  taskset -c 1 wrk -t1 -c64 -d"${DUR}s" "http://127.0.0.1:$PORT/1k.bin" >"$log" 2>&1
  # The server's CPU time (all its threads: coro's log writer too), in
  # clock ticks, before it stops: wrk on one CPU can be the limit of the
  # requests/s, and then the CPU per request tells what logging costs.
  local ticks
  ticks=$(bench_cpu_ticks "$SPID")
  bench_stop
  local rps lines=- reqs cpu
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$log")
  reqs=$(awk '/requests in/ { print $1 }' "$log")
  cpu=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v r="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / r }')
  if [ "$2" = on ]; then
    if [ "$1" = nginx ]; then lines=$(wc -l <"$OUT/nginx/access.log"); else lines=$(wc -l <"$OUT/coro-access.log"); fi
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$rps" "$lines" "$cpu" >>"$OUT/results.tsv"
  printf '%-5s log %-3s run %d: %8s req/s, %6s us CPU/request, %s lines logged\n' "$1" "$2" "$3" "$rps" "$cpu" "$lines" >&2
}

: >"$OUT/results.tsv"
for rep in $(seq "$REPS"); do
  for srv in coro nginx; do
    for log in off on; do
      run "$srv" "$log" "$rep"
    done
  done
done

awk -F'\t' "$BENCH_AWK_MEDIAN"'
  { k = $1 "/" $2; v[k] = v[k] " " $4; c[k] = c[k] " " $6 }
  function median(k) { return median_of(v[k]) }
  function cmedian(k) { return median_of(c[k]) }
  END {
    print "| server | log off req/s | log on req/s | drop | CPU/request off | on | rise |"
    print "|---|---|---|---|---|---|---|"
    for (s = 1; s <= 2; s++) {
      srv = s == 1 ? "coro" : "nginx"
      off = median(srv "/off"); on = median(srv "/on")
      coff = cmedian(srv "/off"); con = cmedian(srv "/on")
      printf "| %s | %.0f | %.0f | %.1f%% | %.2f us | %.2f us | %.1f%% |\n", srv, off, on, (1 - on / off) * 100, coff, con, (con / coff - 1) * 100
    }
  }' "$OUT/results.tsv"
