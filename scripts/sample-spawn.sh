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
#   KEEP=file      also append each run's lines (run, benchmark, ns/op)
#                  to file, to pool sets of runs: SUMMARY=file prints
#                  the medians of such a file without running anything
#                  (KEEP, not the other scripts' OUT, which is a folder)
#
# About 5 minutes with the defaults. Run it on an otherwise idle machine.
set -euo pipefail
export LC_ALL=C # sort -g and awk read "1.5", whatever the locale
here=$PWD
# KEEP and SUMMARY name files from where the script was started.
case ${KEEP:-/} in /*) ;; *) KEEP=$here/$KEEP ;; esac
case ${SUMMARY:-/} in /*) ;; *) SUMMARY=$here/$SUMMARY ;; esac
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
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
# Runs are numbered after those already in KEEP, so that pooled sets keep
# each run's lines together.
first=0
if [ -n "${KEEP:-}" ] && [ -s "$KEEP" ]; then
	first=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$KEEP")
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
	if [ -n "${KEEP:-}" ]; then cat "$tmp/run" >>"$KEEP"; fi
	if ((i < first + runs)); then sleep "$pause"; fi
done

# Each run's state from its ping-pong, then per state and benchmark the
# median (lib-bench.sh's median_of), min and max over the runs;
# Throughput's also as coroutines/s.
awk "$BENCH_AWK_MEDIAN"'
	function add(k, x) {
		list[k] = list[k] " " x
		n[k]++
		if (!(k in lo) || x < lo[k]) lo[k] = x
		if (!(k in hi) || x > hi[k]) hi[k] = x
	}
	$2 == "BenchmarkCacheLinePingPong" { state[$1] = $3 < 300 ? "fast" : "slow" }
	{ run[NR] = $1; name[NR] = $2; val[NR] = $3 + 0 }
	END {
		for (j = 1; j <= NR; j++) {
			# No ping-pong in a run (one CPU: it skips): "unknown".
			add(((run[j] in state) ? state[run[j]] : "unknown") SUBSEP name[j], val[j])
			add("all" SUBSEP name[j], val[j])
		}
		for (k in list) {
			split(k, p, SUBSEP)
			m = median_of(list[k])
			rate = p[2] ~ /^BenchmarkThroughput(Chan)?$/ ? sprintf("  (%d/s)", 1e9 / m) : ""
			printf "%-4s %-36s n=%-3d median %9.1f ns/op%s   min %s max %s\n", p[1], p[2], n[k], m, rate, lo[k], hi[k]
		}
	}' "$tmp/runs" | sort -k1,1 -k2,2
