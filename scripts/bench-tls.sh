#!/usr/bin/env bash
# bench-tls.sh - coro httpd's HTTPS against nginx's, in the same run: wrk
# over TLS (keep-alive, -t1 -c64, $DUR seconds) for a 1 KiB and a 1 MiB
# file, $REPS interleaved runs of each; prints the median requests/s and
# the median server CPU time per request (user + system of the server
# process over the run, from /proc), with coro/nginx ratios and the load
# average. A benchmark, not a test.
#
#   scripts/bench-tls.sh          (make bench-tls)
#
# Both servers: one thread on CPU 0 (one loop; nginx one worker, no
# master), wrk on CPU 1; the same EC P-256 certificate (made here by
# openssl), TLS 1.2 and 1.3 (wrk's OpenSSL picks 1.3), ALPN http/1.1,
# session tickets, 16 KiB records. Neither uses kernel TLS (the kernel
# offers no "tls" ULP), so both read and encrypt the file in user space.
#
# Environment: DUR=3 (seconds a run), REPS=3, OUT=dir (keep the raw
# outputs; default a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
DUR=${DUR:-3}
REPS=${REPS:-3}
bench_out
mkdir -p "$OUT/root" "$OUT/nginx" "$OUT/pki"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
bench_need wrk taskset openssl "$NGINX"
head -c 1024 /dev/urandom >"$OUT/root/1k.bin"
head -c $((1 << 20)) /dev/urandom >"$OUT/root/1m.bin"
. scripts/lib-tls.sh
bench_tls_pki "$OUT/pki"
CERT=$OUT/pki/server.pem KEY=$OUT/pki/server.key
go build -tags coro_openssl -o "$OUT/coro" ./cmd/coro

PORT=$((20000 + RANDOM % 20000))
HZ=$(getconf CLK_TCK)

# nginx over TLS with the certificate coro gets (lib-bench.sh's defaults
# otherwise).
nginx_conf() { # PORT
  NGINX_LISTEN=ssl NGINX_SERVER=$(bench_tls_nginx "$CERT" "$KEY") bench_nginx_conf "$OUT/nginx" "$1" "$OUT/root"
}

run() { # SERVER FILE REP
  PORT=$((PORT + 1))
  if [ "$1" = nginx ]; then
    nginx_conf "$PORT"
    taskset -c 0 "$NGINX" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" >"$OUT/srv.log" 2>&1 &
  else
    taskset -c 0 "$OUT/coro" httpd -loops 1 -root "$OUT/root" -addr "127.0.0.1:$PORT" \
      -cert "$CERT" -key "$KEY" >"$OUT/srv.log" 2>&1 &
  fi
  SPID=$!
  bench_wait_port "$PORT" || { echo "bench-tls.sh: $1 did not start" >&2; cat "$OUT/srv.log" >&2; bench_stop; return 1; }
  local log="$OUT/wrk-$1-$2-$3.txt" t0 t1
  t0=$(bench_cpu_ticks "$SPID")
  taskset -c 1 wrk -t1 -c64 -d"${DUR}s" "https://127.0.0.1:$PORT/$2" >"$log" 2>&1
  t1=$(bench_cpu_ticks "$SPID")
  bench_stop
  local rps reqs errs us
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$log")
  reqs=$(awk '/requests in/ { print $1 }' "$log")
  errs=$(awk '/Non-2xx|Socket errors/ { print }' "$log")
  [ -n "$errs" ] && echo "bench-tls.sh: $1 $2: $errs" >&2
  us=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$rps" "$us" >>"$OUT/results.tsv"
  printf '%-5s %-6s run %d: %8s req/s, %7s us CPU/req\n' "$1" "$2" "$3" "$rps" "$us" >&2
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$OUT/results.tsv"
for rep in $(seq "$REPS"); do
  for file in 1k.bin 1m.bin; do
    for srv in coro nginx; do
      run "$srv" "$file" "$rep"
    done
  done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

awk -F'\t' -v l0="$LOAD0" -v l1="$LOAD1" -v reps="$REPS" -v dur="$DUR" "$BENCH_AWK_MEDIAN"'
  { k = $1 "/" $2; r[k] = r[k] " " $4; c[k] = c[k] " " $5 }
  function median(arr, k) { return median_of(arr[k]) }
  END {
    printf "wrk -t1 -c64 over TLS, %d runs of %d s each, medians; load average %s before, %s after\n\n", reps, dur, l0, l1
    print "| file | coro req/s | nginx req/s | req/s coro/nginx | coro CPU us/req | nginx CPU us/req | CPU/req coro/nginx |"
    print "|---|---|---|---|---|---|---|"
    split("1k.bin 1m.bin", f, " ")
    for (i = 1; i <= 2; i++) {
      cr = median(r, "coro/" f[i]); nr = median(r, "nginx/" f[i])
      cc = median(c, "coro/" f[i]); nc = median(c, "nginx/" f[i])
      printf "| %s | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f |\n", f[i] == "1k.bin" ? "1 KiB" : "1 MiB", cr, nr, cr / nr, cc, nc, cc / nc
    }
  }' "$OUT/results.tsv"
