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
#
# Targets (issue 11): coro >= 0.9x wrk's requests/s, <= 0.5x Go's CPU per
# request.
#
# Environment: COUNT=5 runs of each client, DUR=5 seconds, CONNS=64,
# SERVER_CPU=0, CLIENT_CPU=1.
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
chmod -R a+rX "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NGINX_NOPUSH=off NGINX_KEEPALIVE=100000000 bench_nginx_conf "$OUT/nginx" "$PORT" "$OUT/root"
# taskset execs nginx: $! is nginx's own pid.
taskset -c "$SERVER_CPU" "$NGINX" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" &
SPID=$!
bench_wait_port "$PORT" || { echo "bench-httpc.sh: nginx did not start" >&2; exit 1; }
URL="http://127.0.0.1:$PORT/1k.bin"

# run NAME CMD...: one timed run; prints "NAME requests cpu_seconds".
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
print(name, n, "%.3f" % cpu_s)
PY
}

RES="$OUT/results"
: >"$RES"
for i in $(seq "$COUNT"); do
  run coro build/native/httpc_bench "$URL" "$CONNS" "$DUR" >>"$RES"
  run wrk wrk -t1 -c"$CONNS" -d"${DUR}s" "$URL" >>"$RES"
  GOMAXPROCS=1 run go "$OUT/goclient" "$URL" "$CONNS" "$DUR" >>"$RES"
done
echo "keep-alive GETs of 1 KiB from nginx, $CONNS connections, ${DUR}s x $COUNT runs, medians; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RES" "$DUR" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, n, cpu = line.split()
    rows.setdefault(name, []).append((int(n), float(cpu)))
dur = float(sys.argv[2])
med = {}
print("%-6s %12s %16s" % ("client", "requests/s", "CPU us/request"))
for name in ("coro", "wrk", "go"):
    rs = rows.get(name, [])
    if not rs:
        continue
    rps = statistics.median(n / dur for n, _ in rs)
    cpr = statistics.median(c / n * 1e6 for n, c in rs if n)
    med[name] = (rps, cpr)
    print("%-6s %12.0f %16.2f" % (name, rps, cpr))
if "coro" in med and "wrk" in med:
    print("coro/wrk requests/s: %.2fx (target >= 0.9x)" % (med["coro"][0] / med["wrk"][0]))
if "coro" in med and "go" in med:
    print("coro/go CPU per request: %.2fx (target <= 0.5x)" % (med["coro"][1] / med["go"][1]))
PY
