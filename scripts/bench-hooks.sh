#!/usr/bin/env bash
# bench-hooks.sh - the libc hooks' benchmark of issue 10 (make bench-hooks):
# unmodified hiredis, written for blocking use, run on OS threads (one per
# client, plain libc) and on coroutines of one loop with the hooks, against
# one redis-server (scripts/with-servers.sh), in the same run; medians of
# COUNT runs, interleaved, each run a process of its own
# (bench/hooks/hooks_bench.c says what each measures).
#
#   blpop  N clients (1000 and 10000) each connect, wait for all to be
#          connected, BLPOP its own empty key with a 0.3 s server-side
#          timeout, disconnect: wall time, peak RSS (units: KiB), peak
#          threads, CPU (s); coroutines with guarded stacks and with the
#          shared stack; and the Go peers (bench/hooks/gohooks, a module of
#          its own): goroutines each calling the client through one cgo
#          call (cgo), and coroutines spread over a coro.Group, one loop
#          per CPU, with hooks (group). A run with any failed client (an
#          error, or a nil sooner than the timeout) fails the script.
#   get    50 connections share TOTAL GETs (default 200000) of one key, one
#          request in flight per connection: requests/s, beside
#          redis-benchmark -c 50 -n TOTAL -t get (redis's own event-loop
#          client, the floor)
#
# Targets (issue 10): coroutines <= 0.1x the threads' RSS at about the same
# wall time; GET >= 0.8x redis-benchmark's requests/s.
#
# Environment: COUNT=5, N="1000 10000", TOTAL=200000, OUT=dir (keep raw
# lines; OUT/results.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
N=${N:-1000 10000}
TOTAL=${TOTAL:-200000}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
B=build/bench-hooks
mkdir -p "$B"
make -s V=native build/native/libcoro.a build/native/libcoro_hooks.a
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Icsrc bench/hooks/hooks_bench.c \
  -Wl,--whole-archive build/native/libcoro_hooks.a -Wl,--no-whole-archive \
  build/native/libcoro.a -lhiredis -lpthread -ldl -o "$B/hooks_bench"
(cd bench/hooks/gohooks && go build -o ../../../"$B/gohooks" .)

if [ -z "${CORO_REDIS_PORT:-}" ]; then
  WITH_SERVERS=redis exec scripts/with-servers.sh env OUT="$OUT" "$0" "$@"
fi

results=$OUT/results.txt
: >"$results"
failed_runs=()
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
for i in $(seq "$COUNT"); do
  for n in $N; do
    for m in threads cgo coro coro-shared group; do
      prog=$B/hooks_bench
      case $m in cgo | group) prog=$B/gohooks ;; esac
      line=$("$prog" blpop "$m" "$n" "$CORO_REDIS_PORT") || failed_runs+=("blpop $m $n: $line")
      echo "blpop $m $n $line" | tee -a "$results"
    done
  done
  for m in threads coro; do
    line=$("$B/hooks_bench" get "$m" 50 "$TOTAL" "$CORO_REDIS_PORT") || failed_runs+=("get $m 50: $line")
    echo "get $m 50 $line" | tee -a "$results"
  done
  rps=$(redis-benchmark -h 127.0.0.1 -p "$CORO_REDIS_PORT" -c 50 -n "$TOTAL" -t get --csv -q |
    awk -F'"' '/GET/ { print $4 }')
  echo "get redis-benchmark 50 rps=$rps" | tee -a "$results"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"

# Medians: field of the lines of one kind.
median() { # KIND MODE N FIELD
  awk -v k="$1" -v m="$2" -v n="$3" -v f="$4" '$1 == k && $2 == m && $3 == n {
      for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

echo
echo "Medians of $COUNT runs (each peer / threads in the ratio column after it)"
printf '| %-22s | %10s | %10s | %6s | %10s | %6s | %12s | %6s | %10s | %6s |\n' "" threads "cgo" ratio \
  coroutines ratio "coro shared" ratio group ratio
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "------------------------" "-----------:" "-----------:" "-------:" \
  "-----------:" "-------:" "-------------:" "-------:" "-----------:" "-------:"
for n in $N; do
  for f in wall cpu rss threads; do
    t=$(median blpop threads "$n" $f)
    g=$(median blpop cgo "$n" $f)
    c=$(median blpop coro "$n" $f)
    s=$(median blpop coro-shared "$n" $f)
    p=$(median blpop group "$n" $f)
    printf '| BLPOP x%-6s %-8s | %10s | %10s | %6s | %10s | %6s | %12s | %6s | %10s | %6s |\n' "$n" "$f" "$t" \
      "$g" "$(ratio "$g" "$t")" "$c" "$(ratio "$c" "$t")" "$s" "$(ratio "$s" "$t")" "$p" "$(ratio "$p" "$t")"
  done
done
t=$(median get threads 50 rps)
c=$(median get coro 50 rps)
r=$(median get redis-benchmark 50 rps)
echo
echo "GET, 50 connections, $TOTAL requests: requests/s (medians)"
echo "  threads $t, coroutines $c, redis-benchmark $r"
echo "  coroutines / redis-benchmark $(ratio "$c" "$r"), coroutines / threads $(ratio "$c" "$t")"
echo "raw: $results"
if [ ${#failed_runs[@]} -ne 0 ]; then
  echo >&2
  echo "bench-hooks: FAILED: ${#failed_runs[@]} run(s) had failed clients (their figures are in the medians):" >&2
  printf '  %s\n' "${failed_runs[@]}" >&2
  exit 1
fi
