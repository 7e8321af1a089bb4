#!/usr/bin/env bash
# bench.sh - run coro's benchmarks beside their peers and print the medians.
#
#   scripts/bench.sh
#
# Installs the peers' packages (bash .ci/install-deps peers, when root),
# builds the C/C++ peer programs in bench/peers, runs the Go benchmarks
# (`go test -run '^$' -bench . -count $COUNT ./...`; BenchmarkIdle* once per
# count with -benchtime 1x, as one op there is one whole measurement), runs
# the peers as many times, then prints benchstat's summary (when benchstat is
# installed or installable) and a markdown table of medians with ratios to
# the peers and the project's targets.
#
# Environment:
#   COUNT=5           samples per benchmark
#   BENCHTIME=300ms   -benchtime for everything but BenchmarkIdle*
#   OUT=dir           keep the raw outputs there (default: a temporary folder)
#   NO_PEERS=1        skip installing, building and running the peers
#
# The whole run takes about two minutes on the 2-core CI machine.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-300ms}
bench_out
raw="$OUT/bench.txt"
: >"$raw"

# ---- Peers ---------------------------------------------------------------
peers=0
if [ -z "${NO_PEERS:-}" ]; then
  if [ "$(id -u)" = 0 ] && [ -f .ci/install-deps ]; then
    bash .ci/install-deps peers >&2 || echo "bench.sh: installing the peers' packages failed" >&2
  fi
  if make -s -C bench/peers OUT="$OUT/peers" >&2; then
    peers=1
  else
    echo "bench.sh: peers not built (bash .ci/install-deps peers); continuing without them" >&2
  fi
fi

# ---- Go benchmarks -------------------------------------------------------
echo "## go test -bench (count $COUNT)" >&2
status=0
go test -run '^$' -bench . -skip '^BenchmarkIdle' -count "$COUNT" \
  -benchtime "$BENCHTIME" ./... | tee -a "$raw" >&2 || status=1
go test -run '^$' -bench '^BenchmarkIdle' -count "$COUNT" -benchtime 1x \
  ./... | tee -a "$raw" >&2 || status=1

if [ "$peers" = 1 ]; then
  echo "## peers" >&2
  "$OUT/peers/fcontext" 50000000 "$COUNT" | tee -a "$raw" >&2
  "$OUT/peers/st" 10000000 "$COUNT" | tee -a "$raw" >&2
fi

# ---- benchstat -----------------------------------------------------------
bs=$(command -v benchstat || true)
if [ -z "$bs" ]; then
  gobin=$(go env GOBIN)
  [ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
  if [ ! -x "$gobin/benchstat" ]; then
    go install golang.org/x/perf/cmd/benchstat@latest >&2 2>/dev/null || true
  fi
  [ -x "$gobin/benchstat" ] && bs="$gobin/benchstat"
fi
if [ -n "$bs" ]; then
  echo
  echo '### benchstat'
  echo
  echo '```'
  "$bs" "$raw"
  echo '```'
fi

# ---- Medians, ratios and targets -----------------------------------------
echo
echo "### Medians of $COUNT runs, ratios to the peers, targets"
echo
awk "$BENCH_AWK_MEDIAN"'
# Remember every sample as vals[name, unit] (a space-separated list).
/^Benchmark/ {
  name = $1
  sub(/^Benchmark/, "", name)
  sub(/-[0-9]+$/, "", name)
  for (i = 3; i + 1 <= NF; i += 2) {
    k = name SUBSEP $(i + 1)
    vals[k] = (k in vals) ? vals[k] " " $i : $i
  }
}
function median(k) { return (k in vals) ? median_of(vals[k]) : "" }
function fmt(v) {
  if (v == "") return "-"
  if (v >= 1000) return sprintf("%.0f", v)
  if (v >= 100) return sprintf("%.1f", v)
  return sprintf("%.2f", v)
}
# row(name, unit, peer, absolute target (<=), ratio target (<=), note)
function row(name, unit, peer, tabs, trel, note,    m, p, r, tg, ok) {
  m = median(name SUBSEP unit)
  if (m == "") return
  p = (peer != "") ? median(peer SUBSEP unit) : ""
  r = (p != "" && p > 0) ? m / p : ""
  tg = ""; ok = ""
  if (tabs != "") {
    tg = "<= " tabs
    ok = (m <= tabs + 0) ? "met" : "MISSED"
  }
  if (trel != "") {
    tg = tg (tg != "" ? ", " : "") "<= " trel "x " peer
    if (r == "") ok = ok (ok != "" ? ", " : "") "no peer"
    else ok = ok (ok != "" ? ", " : "") ((r <= trel + 0) ? "met" : "MISSED")
  }
  printf "| %s | %s | %s | %s | %s | %s | %s |%s\n", name, fmt(m), unit,
    (peer != "" ? peer " " fmt(p) : "-"), (r != "" ? sprintf("%.2fx", r) : "-"),
    (tg != "" ? tg : "-"), (ok != "" ? ok : "-"), (note != "" ? " " note " |" : " |")
}
END {
  print "| benchmark | median | unit | peer (median) | ratio to peer | target | status | note |"
  print "|---|---:|---|---|---:|---|---|---|"
  row("Switch", "ns/switch", "PeerBoostFcontext", "", "1.0", "one-way symmetric transfer")
  row("Switch", "ns/switch", "PeerBoostFcontextNoinline", "", "", "Boost jumping from a noinline function, like for like")
  row("Switch", "ns/switch", "SwitchGoChan", "", "", "")
  row("Switch", "ns/switch", "SwitchIterPull", "", "", "iter.Pull: ns/op is one next(), two switches")
  row("Yield", "ns/op", "PeerSTCond", "14", "", "st: cond-var handoff (no st_yield in Debian)")
  row("Spawn/guarded", "ns/op", "SpawnGo", "50", "0.2", "spawn+run+join; 0.2x = 5x faster")
  row("Spawn/shared", "ns/op", "SpawnGo", "50", "0.2", "")
  row("Ring1000", "ns/op", "Ring1000GoChan", "13", "", "one hop, direct transfer")
  row("Ring1000Sched", "ns/op", "Ring1000GoChan", "30", "", "one hop, coro_sem through the scheduler")
  row("Idle/guarded", "B/coroutine", "IdleGoroutine", "4403", "", "4.3 KiB")
  row("Idle/guarded", "coroutines", "", "", "", "capped by vm.max_map_count")
  row("Idle/shared", "B/coroutine", "IdleGoroutine", "300", "", "")
  row("Idle/shared", "MiB", "", "512", "", "1,000,000 parked")
  row("DNSCacheHit", "ns/op", "", "", "", "resolver cache hit, 10,000 names in turn")
  row("DNSCacheHit", "cpu-ns/op", "", "50", "", "the same in CPU time of the thread")
  row("Timer/pending=1000", "ns/op", "Timer/none", "", "", "wait with a deadline; none: no deadline")
  row("Timer/pending=100000", "ns/op", "Timer/pending=1000", "", "2.0", "whole op")
  # The timer heap alone: the op minus the same op without a deadline.
  n0 = median("Timer/none" SUBSEP "ns/op")
  n1 = median("Timer/pending=1000" SUBSEP "ns/op")
  n2 = median("Timer/pending=100000" SUBSEP "ns/op")
  if (n0 != "" && n1 != "" && n2 != "" && n1 > n0) {
    r = (n2 - n0) / (n1 - n0)
    printf "| Timer add+cancel, 100,000 pending | %s | ns/op | 1,000 pending %s | %.2fx | <= 2.0x | %s | op minus Timer/none |\n",
      fmt(n2 - n0), fmt(n1 - n0), r, (r <= 2.0) ? "met" : "MISSED"
  }
}
' "$raw"
if [ "$status" != 0 ]; then
  echo "bench.sh: go test failed (see above); the table has what did run" >&2
fi
exit "$status"
