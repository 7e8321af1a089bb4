# lib-bench.sh - what the benchmark scripts share; sourced (". scripts/lib-bench.sh"
# from the repository's root), never run:
#
#   bench_out [TEMPLATE]     OUT as the caller gave it (kept), or a new
#                            temporary folder (mktemp -d TEMPLATE) in OUT and
#                            TMPOUT, which bench_cleanup removes; and the
#                            traps: bench_cleanup at exit, exit on INT, TERM
#   bench_need TOOL...       exit unless every TOOL is on PATH
#   SPID                     the server process that bench_stop ends
#   bench_stop               kill and reap $SPID (none: nothing)
#   bench_cleanup            bench_stop, then remove $TMPOUT
#   bench_wait_port PORT [N] wait until 127.0.0.1:PORT accepts (N x 50 ms,
#                            default 200); 1 if it never did
#   bench_cpu_ticks PID      the process's utime + stime in clock ticks
#   bench_nginx_conf DIR PORT ROOT
#                            DIR/nginx.conf: one nginx process serving ROOT
#                            on 127.0.0.1:PORT (see below)
#   BENCH_AWK_MEDIAN         an awk function to prepend to a program's text:
#                            median_of(list), the median of the numbers in
#                            the space-separated string list ("" if none)
#
# Servers are ready when their port accepts: nginx prints nothing when it
# is. Messages name the script that sourced this file.

BENCH_NAME=$(basename "$0")

bench_out() {
  TMPOUT=
  if [ -z "${OUT:-}" ]; then
    OUT=$(mktemp -d ${1:+"$1"})
    TMPOUT=$OUT
  fi
  mkdir -p "$OUT"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null ||
      { echo "$BENCH_NAME: $t missing (bash .ci/install-deps http)" >&2; exit 1; }
  done
}

SPID=
bench_stop() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
  fi
  SPID=
}

bench_cleanup() {
  bench_stop
  [ -z "${TMPOUT:-}" ] || rm -rf "$TMPOUT"
  return 0
}

bench_wait_port() {
  local _
  for _ in $(seq "${2:-200}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# Fields 14 and 15 of /proc/PID/stat counted after the command's name,
# which may hold spaces and parentheses.
bench_cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# nginx for a benchmark: no master, not a daemon, one worker, keep-alive
# without limit, sendfile, no access log, its pid, logs and temporary
# folders in DIR. Variables set for the call change it:
#   NGINX_MAIN          lines at the top (worker_rlimit_nofile)
#   NGINX_CONNS         worker_connections (4096)
#   NGINX_ACCESS_LOG    the access_log line ("access_log off;")
#   NGINX_NOPUSH        tcp_nopush (on)
#   NGINX_KEEPALIVE     keepalive_requests (1000000)
#   NGINX_LISTEN        after the listen address ("ssl")
#   NGINX_SERVER        lines in the server block (certificates)
bench_nginx_conf() {
  cat >"$1/nginx.conf" <<NGX
worker_processes 1;
${NGINX_MAIN:-}
master_process off;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log crit;
events { worker_connections ${NGINX_CONNS:-4096}; }
http {
  ${NGINX_ACCESS_LOG:-access_log off;}
  sendfile on;
  tcp_nopush ${NGINX_NOPUSH:-on};
  keepalive_requests ${NGINX_KEEPALIVE:-1000000};
  keepalive_timeout 300s;
  default_type application/octet-stream;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  server {
    listen 127.0.0.1:$2${NGINX_LISTEN:+ $NGINX_LISTEN};
    root $3;
${NGINX_SERVER:-}
  }
}
NGX
}

# Insertion sort: mawk has no asort.
BENCH_AWK_MEDIAN='
function median_of(list,    n, a, i, j, t) {
  n = split(list, a, " ")
  if (n == 0) return ""
  for (i = 2; i <= n; i++) {
    t = a[i] + 0
    for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
    a[j + 1] = t
  }
  return (n % 2) ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}
'
