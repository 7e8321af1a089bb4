#!/usr/bin/env bash
# bench-dns.sh - the resolver benchmark of issue 9: N lookups of distinct
# names against a real local DNS server, cache cold and cache warm, by coro
# and its peers, in the same run; medians and ratios.
#
#   scripts/bench-dns.sh            (make bench-dns)
#
# The server: NSD (Debian's nsd) on port 53 of $DNS_ADDR, pinned to CPU 0,
# authoritative for bench.test, which holds h00000.bench.test ...
# (N names, A 10.x.y.z, TTL 3600). Each client runs pinned to CPU 1, and
# asks for the IPv4 address of every name once (cold), then again (warm),
# checking every answer:
#   coro       coro_lookup_ip from N coroutines on one loop, a fresh
#              resolver (empty cache), the stacks mapped and touched before
#              (DNSBENCH_FRESH_STACKS=1: not; the cold figure then adds the
#              first touch of N stacks); warm: N coroutines again, and warm1:
#              one coroutine asking the N names $ROUNDS times (the lookup
#              alone, without the spawns)
#   cares      c-ares (libc-ares-dev), ares_getaddrinfo on its own event
#              loop (sockets from ARES_OPT_SOCK_STATE_CB in epoll, timeouts
#              from ares_timeout), all N queries at once; c-ares reads the
#              hosts file for every lookup by default ("fb")
#   cares-dns  the same with lookups "b" (DNS only)
#   gai        glibc getaddrinfo on a pool of $THREADS threads (each
#              thread's _res aimed at the server)
#   go         Go's pure-Go resolver (net.Resolver PreferGo, Dial aimed at
#              the server), a goroutine per lookup, GOMAXPROCS=1
# c-ares, glibc and Go keep no cache: their warm runs ask the server again.
# The drivers: bench/dns/dnsbench.c (coro, c-ares, glibc) and
# bench/dns/godns (Go). CPU is the client process's user + system time
# (getrusage), the server's is not counted.
#
# Targets (issue 9): coro cold >= 1.0x c-ares's lookups per CPU-second and
# >= 3x Go's; warm >= 10 million lookups a second on one loop (warm1).
#
# Environment:
#   COUNT=5            runs of each client, interleaved
#   N=10000            names
#   ROUNDS=100         warm1: times each name is asked
#   THREADS=64         glibc's pool
#   DNS_ADDR=127.0.0.251  the server's address (dnstest uses 100-249)
#   OUT=dir            keep the raw outputs (default: a temporary folder);
#                      OUT/results.txt has one line per phase and run
#   TABLES_FROM=file   print the tables from a results.txt, run nothing
#
# Needs nsd, c-ares and taskset (bash .ci/install-deps dns, run here when
# root and something is missing). About a minute with the defaults.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
COUNT=${COUNT:-5}
N=${N:-10000}
ROUNDS=${ROUNDS:-100}
THREADS=${THREADS:-64}
DNS_ADDR=${DNS_ADDR:-127.0.0.251}
bench_out
B=build/bench-dns
results="$OUT/results.txt"
NSD=/usr/sbin/nsd

pin() { # pin CPU CMD...: run CMD on CPU (when taskset exists)
  local cpu=$1
  shift
  if command -v taskset >/dev/null; then taskset -c "$cpu" "$@"; else "$@"; fi
}

if [ -n "${TABLES_FROM:-}" ]; then
  results=$TABLES_FROM
else
  # ---- Dependencies and build -------------------------------------------
  if [ ! -x "$NSD" ] || [ ! -f /usr/include/ares.h ]; then
    if [ "$(id -u)" = 0 ]; then
      bash .ci/install-deps dns >&2
    else
      echo "bench-dns.sh: nsd or c-ares missing (bash .ci/install-deps dns)" >&2
    fi
  fi
  [ -x "$NSD" ] || { echo "bench-dns.sh: $NSD not installed" >&2; exit 1; }
  make -s build/native/libcoro.a
  mkdir -p "$B"
  cares=()
  impls=(coro)
  if [ -f /usr/include/ares.h ]; then
    cares=(-DHAVE_CARES -lcares)
    impls+=(cares cares-dns)
  else
    echo "bench-dns.sh: c-ares not installed; running without it" >&2
  fi
  impls+=(gai go)
  ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Icsrc \
    bench/dns/dnsbench.c build/native/libcoro.a "${cares[@]}" -lpthread \
    -o "$B/dnsbench"
  go build -o "$B/godns" ./bench/dns/godns

  # ---- The server ---------------------------------------------------------
  dir="$OUT/nsd"
  mkdir -p "$dir"
  {
    echo '$ORIGIN bench.test.'
    echo '$TTL 3600'
    echo '@ SOA ns1 hostmaster 1 3600 900 604800 60'
    echo '@ NS ns1'
    echo "ns1 A $DNS_ADDR"
    awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
      printf "h%05d A 10.%d.%d.%d\n", i, int(i / 65536), int(i / 256) % 256, i % 256 }'
  } >"$dir/bench.test.zone"
  cat >"$dir/nsd.conf" <<EOF
server:
  ip-address: $DNS_ADDR
  port: 53
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$dir"
  database: ""
  zonelistfile: "$dir/zone.list"
  xfrdfile: "$dir/xfrd.state"
  xfrdir: "$dir"
  pidfile: "$dir/nsd.pid"
  logfile: "$dir/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
  reuseport: no
  # N queries arrive at once from one address: no rate limit (nsd sizes
  # its socket buffers itself, 1 MiB, forced as root).
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: bench.test.zone
EOF
  echo "nameserver $DNS_ADDR" >"$OUT/resolv.conf"
  pin 0 "$NSD" -d -c "$dir/nsd.conf" >"$dir/stderr" 2>&1 &
  SPID=$! # bench_cleanup stops it
  up=0
  for _ in $(seq 50); do
    if "$B/dnsbench" probe "$DNS_ADDR" 1 0 "$OUT/resolv.conf" >/dev/null 2>&1; then
      up=1
      break
    fi
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.2 # between polls of the server
  done
  if [ "$up" != 1 ]; then
    echo "bench-dns.sh: nsd on $DNS_ADDR did not answer:" >&2
    cat "$dir/stderr" "$dir/nsd.log" >&2 2>/dev/null || true
    exit 1
  fi

  # ---- Runs, interleaved ------------------------------------------------
  : >"$results"
  # The load average before and after: on a shared machine the wall-clock
  # figures mean little without it (the CPU ones hold better).
  echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results"
  for run in $(seq "$COUNT"); do
    for impl in "${impls[@]}"; do
      echo "## run $run: $impl" >&2
      case $impl in
        coro) pin 1 "$B/dnsbench" coro "$DNS_ADDR" "$N" "$ROUNDS" "$OUT/resolv.conf" ;;
        cares | cares-dns) pin 1 "$B/dnsbench" "$impl" "$DNS_ADDR" "$N" ;;
        gai) pin 1 "$B/dnsbench" gai "$DNS_ADDR" "$N" "$THREADS" ;;
        go) pin 1 env GOMAXPROCS=1 "$B/godns" -server "$DNS_ADDR" -n "$N" ;;
      esac | tee -a "$results" >&2
    done
  done
  echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results"
fi

# ---- Tables -----------------------------------------------------------------
echo
echo "### DNS: $N distinct names, medians of $COUNT runs (errors: the most in a run)"
grep '^# load' "$results" | sed 's/^# /    /' || true
echo
awk "$BENCH_AWK_MEDIAN"'
/^dns / {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
  k = f["impl"] SUBSEP f["phase"]
  if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  lps[k] = lps[k] " " f["lookups"] * 1e9 / f["wall_ns"]
  cpu[k] = cpu[k] " " f["cpu_ns"] / f["lookups"]
  pcs[k] = pcs[k] " " (f["cpu_ns"] > 0 ? f["lookups"] * 1e9 / f["cpu_ns"] : 0)
  if (f["errors"] + 0 > err[k] + 0) err[k] = f["errors"]
}
function num(v) {
  if (v >= 1e6) return sprintf("%.2fM", v / 1e6)
  if (v >= 1e4) return sprintf("%.0fk", v / 1e3)
  if (v >= 1e3) return sprintf("%.1fk", v / 1e3)
  return sprintf("%.0f", v)
}
function us(ns) { return ns >= 1000 ? sprintf("%.2f us", ns / 1000) : sprintf("%.0f ns", ns) }
function pc(impl, phase) { k = impl SUBSEP phase; return (k in seen) ? median_of(pcs[k]) : "" }
function target(name, v, ref, want,    r) {
  if (v == "" || ref == "" || ref == 0) {
    printf "| %s | - | >= %sx | no figure |\n", name, want
    return
  }
  r = v / ref
  printf "| %s | %.2fx | >= %sx | %s |\n", name, r, want, (r >= want) ? "met" : "MISSED"
}
END {
  print "| implementation | phase | lookups/s (wall) | CPU per lookup | lookups per CPU-second | errors |"
  print "|---|---|---:|---:|---:|---:|"
  for (o = 1; o <= nk; o++) {
    k = order[o]
    split(k, p, SUBSEP)
    printf "| %s | %s | %s | %s | %s | %d |\n", p[1], p[2], num(median_of(lps[k])),
      us(median_of(cpu[k])), num(median_of(pcs[k])), err[k]
  }
  print ""
  print "| target (lookups per CPU-second, cold) | ratio | target | status |"
  print "|---|---:|---:|---|"
  c = pc("coro", "cold")
  target("coro / c-ares (default: hosts file, then DNS)", c, pc("cares", "cold"), 1.0)
  target("coro / c-ares (DNS only)", c, pc("cares-dns", "cold"), 1.0)
  target("coro / Go (pure-Go resolver)", c, pc("go", "cold"), 3.0)
  target("coro / glibc getaddrinfo (thread pool)", c, pc("gai", "cold"), 1.0)
  k = "coro" SUBSEP "warm1"
  if (k in seen) {
    w = median_of(lps[k])
    printf "| coro warm, one loop (warm1) | %s lookups/s | >= 10M lookups/s | %s |\n",
      num(w), (w >= 1e7) ? "met" : "MISSED"
  }
}
' "$results"
