#!/usr/bin/env bash
# bench-spawn.sh - the Spawn-from-Go rows of the README's table: the work
# tree's Spawn + Wait benchmarks alternated with another commit's, each run
# tagged with the state of the machine.
#
#   scripts/bench-spawn.sh [base-commit]     (default: HEAD)
#
# A Spawn + Wait crosses between two threads, so its cost follows how long
# a cache line takes between the two CPUs, which on the test VM moves
# between about 75 and 300 ns within minutes while the load average shows
# nothing. Before each run the script measures BenchmarkCacheLinePingPong
# (the work tree's binary) and tags the run "fast" (a round trip under
# 300 ns) or "slow", then prints per state and binary the median ns/op and
# every sample. The two binaries run one after the other, ROUNDS times, so
# that both see the same states. ns/op is a mean; the benchmarks that
# record each op's latency (internal/oplat) add rows name/p50 and
# name/p99, the median and 99th percentile op, in ns.
#
# Environment:
#   ROUNDS=10            rounds
#   OPS=50000x           -benchtime of each benchmark
#   BENCH=regexp         the benchmarks (default: the Spawn ones, their
#                        channel peers and WaitFDReady with its peer)
#
# About 30 s on the 2-core machine with the defaults. The last lines pair
# the two binaries round by round (see the end of the script).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-HEAD}
rounds=${ROUNDS:-10}
ops=${OPS:-50000x}
bench=${BENCH:-'SpawnFromGo$|SpawnFromGoBusy|SpawnFromGoChan$|Throughput$|ThroughputChan|WaitFDReady$|WaitFDReadyNetpoll'}

tmp=$(mktemp -d)
cleanup() {
	git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
git worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
(cd "$tmp/base" && go test -c -o "$tmp/base.test" .)
go test -c -o "$tmp/new.test" .

# state prints "fast" or "slow" from a short ping-pong run.
state() {
	local ns
	ns=$("$tmp/new.test" -test.run '^$' -test.bench CacheLinePingPong \
		-test.benchtime 200000x | awk '/^Benchmark/ {print int($3)}')
	if [ "${ns:-0}" -lt 300 ]; then echo fast; else echo slow; fi
}

for ((i = 0; i < rounds; i++)); do
	for bin in base new; do
		s=$(state)
		"$tmp/$bin.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$ops" |
			awk -v b="$bin" -v s="$s" -v i="$i" '/^Benchmark/ {
				print $1, s, b, $3, i
				# The per-op latency percentiles (internal/oplat), as
				# benchmarks of their own: name/p50, name/p99.
				for (f = 5; f < NF; f += 2)
					if ($(f + 1) ~ /^p[0-9]+-ns$/)
						print $1 "/" substr($(f + 1), 1, 3), s, b, $f, i
			}'
	done
done >"$tmp/runs"

# One line per benchmark, state and binary: the median and the samples.
sort -k1,1 -k2,2 -k3,3 -k4,4g "$tmp/runs" | awk '
	function flush() {
		if (n == 0) return
		m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "%-32s %s %-4s n=%-2d median %8.0f ns/op   samples%s\n", k1, k2, k3, n, m, all
	}
	{
		if ($1 != k1 || $2 != k2 || $3 != k3) { flush(); k1 = $1; k2 = $2; k3 = $3; n = 0; all = "" }
		v[++n] = $4; all = all " " $4
	}
	END { flush() }'

# Paired: each round's new/base ratio per benchmark (the two runs of a
# round are seconds apart, so the machine's drift over minutes cancels
# out), whatever the state; the median ratio, its spread, and how many
# rounds the new binary won. A change that did not touch the measured
# path once showed 14% between two medians above: trust a change when
# most rounds agree.
echo
awk '{ key = $1 SUBSEP $5; val[$3, key] = $4; names[$1] = 1; rounds[$5] = 1 }
	END {
		for (b in names) {
			n = 0; wins = 0
			for (r in rounds) {
				k = b SUBSEP r
				if ((("base", k) in val) && (("new", k) in val) && val["base", k] > 0) {
					x[++n] = val["new", k] / val["base", k]
					if (x[n] < 1) wins++
				}
			}
			if (n == 0) continue
			for (i = 2; i <= n; i++) { t = x[i]; for (j = i - 1; j >= 1 && x[j] > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
			m = n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
			printf "%-32s paired new/base median %.3f  (min %.3f, max %.3f; new faster in %d of %d rounds)\n", b, m, x[1], x[n], wins, n
		}
	}' "$tmp/runs" | sort
