#!/usr/bin/env bash
# bench-httpc.sh - the HTTP client benchmark of issue 11: keep-alive GETs
# of a 1 KiB file from nginx over CONNS connections, by coro's client and
# its peers, in the same run, interleaved; medians and ratios.
#
#   scripts/bench-httpc.sh            (make bench-httpc)
#
# The server: nginx (one process, access_log off, keep-alive without
# limit) on a free loopback port, pinned to CPU 0. Each client runs pinned
# to CPU 1 for DUR seconds:
#   coro  build/native/httpc_bench: CONNS coroutines on one loop, one
#         coro_http_client (pool cap CONNS), the body dropped in on_body
#   wrk   wrk -t1 -cCONNS (the floor for a client: it parses nothing it
#         need not)
#   go    bench/httpc/goclient: CONNS goroutines, one net/http Client
#         (pool sized CONNS), GOMAXPROCS=1
# Requests/s counts the 200s the client finished; CPU per request is the
# client process's user + system time (getrusage of the child) over them.
# coro and go also report, from their own clock and getrusage, a setup
# (one GET per connection, all at once: CONNS connects, over TLS CONNS
# handshakes) apart from the steady state that follows on the kept-alive
# connections; wrk reports only its whole run.
#
# Targets (issue 11): coro >= 0.9x wrk's requests/s, <= 0.5x Go's CPU per
# request.
#
# TLS=1 (make bench-httpc-tls): the same over HTTPS. nginx serves TLS 1.2
# and 1.3 with a certificate of a CA made for the run (lib-tls.sh); coro
# is build/native/httpc_bench_tls (tls_on.c, OpenSSL) and go the same
# goclient, both verifying against that CA (HTTP/1.1, ALPN as each
# client does it); wrk over TLS (it verifies nothing) is the floor. The
# handshakes are in the setup: the steady-state columns are what the
# connections cost kept alive, the ratio to Go is taken there.
#
# Environment: COUNT=5 runs of each client, DUR=5 seconds, CONNS=64,
# SERVER_CPU=0, CLIENT_CPU=1, TLS= (1: over HTTPS).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
COUNT=${COUNT:-5} DUR=${DUR:-5} CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
bench_need "$NGINX" wrk taskset python3
make -s V=native build/native/httpc_bench
OUT= # always a temporary folder
bench_out /tmp/bench-httpc.XXXXXX
go build -o "$OUT/goclient" ./bench/httpc/goclient
mkdir -p "$OUT/root" "$OUT/nginx"
head -c 1024 /dev/urandom >"$OUT/root/1k.bin"
# Over TLS: a PKI for the run, nginx's server block gets its certificate,
# the clients its CA; SCHEME and CA stay empty for plain HTTP.
CORO_BIN=build/native/httpc_bench SCHEME=http CA= LISTEN_SSL= SSL_LINES=
if [ -n "${TLS:-}" ]; then
  bench_need openssl
  . scripts/lib-tls.sh
  make -s V=native build/native/httpc_bench_tls
  mkdir -p "$OUT/pki"
  bench_tls_pki "$OUT/pki"
  CORO_BIN=build/native/httpc_bench_tls SCHEME=https CA=$OUT/pki/ca.pem LISTEN_SSL=ssl
  SSL_LINES=$(bench_tls_nginx "$OUT/pki/server.pem" "$OUT/pki/server.key")
fi
chmod -R a+rX "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NGINX_NOPUSH=off NGINX_KEEPALIVE=100000000 NGINX_LISTEN=$LISTEN_SSL NGINX_SERVER=$SSL_LINES \
  bench_nginx_conf "$OUT/nginx" "$PORT" "$OUT/root"
# taskset execs nginx: $! is nginx's own pid.
taskset -c "$SERVER_CPU" "$NGINX" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" &
SPID=$!
bench_wait_port "$PORT" || { echo "bench-httpc.sh: nginx did not start" >&2; exit 1; }
URL="$SCHEME://127.0.0.1:$PORT/1k.bin"

# run NAME CMD...: one timed run; prints "NAME requests cpu_seconds
# setup_s setup_cpu_s steady_requests steady_s steady_cpu_s" (the last
# five "-" for wrk).
run() {
  local name=$1
  shift
  python3 - "$name" "$CLIENT_CPU" "$@" <<'PY'
import re, resource, subprocess, sys
name, cpu, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
p = subprocess.run(["taskset", "-c", cpu] + cmd, capture_output=True, text=True)
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
m = re.search(r"requests (\d+) errors (\d+)", p.stdout)
if m:
    n, errs = int(m.group(1)), int(m.group(2))
else:
    m = re.search(r"(\d+) requests in", p.stdout)
    n, errs = (int(m.group(1)) if m else 0), 0
    if "Non-2xx" in p.stdout or "Socket errors" in p.stdout:
        errs = 1
if n == 0 or errs:
    sys.stderr.write("%s: %s %s\n" % (name, p.stdout, p.stderr))
m = re.search(r"setup (\S+) setup_cpu (\S+) steady (\d+) steady_s (\S+) steady_cpu (\S+)", p.stdout)
print(name, n, "%.3f" % cpu_s, *(m.groups() if m else ["-"] * 5))
PY
}

RES="$OUT/results"
: >"$RES"
for i in $(seq "$COUNT"); do
  run coro "$CORO_BIN" "$URL" "$CONNS" "$DUR" ${CA:+"$CA"} >>"$RES"
  run wrk wrk -t1 -c"$CONNS" -d"${DUR}s" "$URL" >>"$RES"
  GOMAXPROCS=1 run go "$OUT/goclient" "$URL" "$CONNS" "$DUR" ${CA:+"$CA"} >>"$RES"
done
echo "keep-alive GETs of 1 KiB from nginx over $SCHEME, $CONNS connections, ${DUR}s x $COUNT runs, medians; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RES" "$DUR" "$CONNS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append(f[1:])
dur, conns = float(sys.argv[2]), int(sys.argv[3])
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def fmt(x, spec):
    return "-" if x is None else spec % x
m = {}
for name in ("coro", "wrk", "go"):
    rs = rows.get(name)
    if not rs:
        continue
    steady = [r for r in rs if r[2] != "-" and int(r[4])]
    m[name] = {
        # the whole run, the script's measure (wrk's too)
        "rps": med([int(r[0]) / dur for r in rs]),
        "cpr": med([float(r[1]) / int(r[0]) * 1e6 for r in rs if int(r[0])]),
        # the client's own: the setup, then the steady state
        "setup_ms": med([float(r[2]) * 1e3 for r in steady]),
        "setup_cpu_ms": med([float(r[3]) * 1e3 for r in steady]),
        "srps": med([int(r[4]) / float(r[5]) for r in steady]),
        "scpr": med([float(r[6]) / int(r[4]) * 1e6 for r in steady]),
    }
print("| client | requests/s | CPU us/request | steady requests/s | steady CPU us/request | setup ms (%d conns) | setup CPU ms |" % conns)
print("|---|---:|---:|---:|---:|---:|---:|")
for name, v in m.items():
    print("| %s | %s | %s | %s | %s | %s | %s |" % (name, fmt(v["rps"], "%.0f"), fmt(v["cpr"], "%.2f"),
          fmt(v["srps"], "%.0f"), fmt(v["scpr"], "%.2f"), fmt(v["setup_ms"], "%.1f"), fmt(v["setup_cpu_ms"], "%.1f")))
def ratio(a, b, k):
    if a in m and b in m and m[a][k] and m[b][k]:
        return "%.2fx" % (m[a][k] / m[b][k])
    return "-"
print()
print("| ratio | whole run | steady state | target |")
print("|---|---:|---:|---|")
print("| coro/wrk requests/s | %s | - | >= 0.9x |" % ratio("coro", "wrk", "rps"))
print("| coro/go requests/s | %s | %s | |" % (ratio("coro", "go", "rps"), ratio("coro", "go", "srps")))
print("| coro/go CPU per request | %s | %s | <= 0.5x |" % (ratio("coro", "go", "cpr"), ratio("coro", "go", "scpr")))
print("| coro/go setup CPU | %s | | |" % ratio("coro", "go", "setup_cpu_ms"))
print()
print("each run, in order (whole run requests/s / CPU us per request):")
for name, rs in rows.items():
    print("  %-4s %s" % (name, "  ".join("%.0f/%.1f" % (int(r[0]) / dur, float(r[1]) / max(int(r[0]), 1) * 1e6) for r in rs)))
PY
