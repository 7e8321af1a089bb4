#!/usr/bin/env bash
# sample-spawn.sh - the README's Spawn-from-Go figures: the work tree's
# Spawn + Wait benchmarks and their peers, run RUNS times a few seconds
# apart, each run tagged with the state of the machine, and the medians
# per state.
#
#   scripts/sample-spawn.sh
#
# The test VM's cost of moving a cache line between its two CPUs changes
# by 3x within minutes (a round trip of 130 to 230 ns in its "fast"
# state, 400 to 570 ns in its "slow" one), and a Spawn + Wait follows it.
# One run says little: the README reports the median of many, per state.
# Each run begins with BenchmarkCacheLinePingPong, whose ns/op tags it
# (fast under 300 ns). scripts/bench-spawn.sh compares two commits; this
# script measures one.
#
# Environment:
#   RUNS=24        runs
#   SLEEP=8        seconds between runs
#   OPS=200000x    -benchtime of each benchmark
#   BENCH=regexp   the benchmarks after the ping-pong (default: the
#                  README's rows and their peers)
#   OUT=file       also append each run's lines (run, benchmark, ns/op)
#                  to file, to pool sets of runs: SUMMARY=file prints
#                  the medians of such a file without running anything
#
# About 5 minutes with the defaults. Run it on an otherwise idle machine.
set -euo pipefail
export LC_ALL=C # sort -g and awk read "1.5", whatever the locale
here=$PWD
# OUT and SUMMARY name files from where the script was started.
case ${OUT:-/} in /*) ;; *) OUT=$here/$OUT ;; esac
case ${SUMMARY:-/} in /*) ;; *) SUMMARY=$here/$SUMMARY ;; esac
cd "$(dirname "$0")/.."
runs=${RUNS:-24}
pause=${SLEEP:-8}
ops=${OPS:-200000x}
bench=${BENCH:-'SpawnFromGo$|SpawnFromGoBusy|SpawnFromGoChan$|Throughput$|ThroughputChan|WaitFDReady$|WaitFDReadyNetpoll'}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/runs"
if [ -n "${SUMMARY:-}" ]; then
	cp "$SUMMARY" "$tmp/runs"
	runs=0
else
	go test -c -o "$tmp/coro.test" .
fi
# Runs are numbered after those already in OUT, so that pooled sets keep
# each run's lines together.
first=0
if [ -n "${OUT:-}" ] && [ -s "$OUT" ]; then
	first=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$OUT")
fi

for ((i = first + 1; i <= first + runs; i++)); do
	# A run that fails is reported and left out; the others still count.
	if ! "$tmp/coro.test" -test.run '^$' -test.bench "CacheLinePingPong|$bench" \
		-test.benchtime "$ops" >"$tmp/out"; then
		echo "run $i failed:" >&2
		tail -5 "$tmp/out" >&2
		continue
	fi
	awk -v i="$i" '/^Benchmark/ {
			sub(/-[0-9]+$/, "", $1)
			print i, $1, $3
			# The per-op latency percentiles (internal/oplat).
			for (f = 5; f < NF; f += 2)
				if ($(f + 1) ~ /^p[0-9]+-ns$/)
					print i, $1 "/" substr($(f + 1), 1, length($(f + 1)) - 3), $f
		}' "$tmp/out" >"$tmp/run"
	cat "$tmp/run" >>"$tmp/runs"
	if [ -n "${OUT:-}" ]; then cat "$tmp/run" >>"$OUT"; fi
	if ((i < first + runs)); then sleep "$pause"; fi
done

# Each run's state from its ping-pong, then per state and benchmark the
# median, min and max over the runs; Throughput's also as coroutines/s.
awk '
	$2 == "BenchmarkCacheLinePingPong" { state[$1] = $3 < 300 ? "fast" : "slow" }
	{ line[NR] = $0 }
	END {
		for (j = 1; j <= NR; j++) {
			split(line[j], f, " ")
			# No ping-pong in a run (one CPU: it skips): "unknown".
			print (f[1] in state) ? state[f[1]] : "unknown", f[2], f[3]
			print "all", f[2], f[3]
		}
	}' "$tmp/runs" | sort -k1,1 -k2,2 -k3,3g | awk '
	function flush() {
		if (n == 0) return
		m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		rate = k2 ~ /^BenchmarkThroughput(Chan)?$/ ? sprintf("  (%d/s)", 1e9 / m) : ""
		printf "%-4s %-36s n=%-3d median %9.1f ns/op%s   min %s max %s\n", k1, k2, n, m, rate, v[1], v[n]
	}
	{
		if ($1 != k1 || $2 != k2) { flush(); k1 = $1; k2 = $2; n = 0 }
		v[++n] = $3
	}
	END { flush() }'
