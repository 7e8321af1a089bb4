#!/usr/bin/env bash
# with-servers.sh - run a command beside real database servers: the proofs
# of the libc hooks (csrc/test/hooks_servers_test.c, make hooks-servers)
# and their benchmark (make bench-hooks) drive unmodified client libraries
# against the servers those libraries are written for.
#
#   scripts/with-servers.sh COMMAND [ARG...]
#
# Starts, each in a fresh temporary folder, on a free port of 127.0.0.1:
#   redis      redis-server, nothing saved to disk
#   postgres   PostgreSQL 15 (initdb; trust authentication, user postgres,
#              max_connections 300, fsync off)
#   mariadb    MariaDB (mariadb-install-db; grant tables skipped, so any
#              user name and no password; max_connections 400)
# then runs COMMAND with, in its environment:
#   CORO_REDIS_PORT, CORO_REDIS_SERVER (the redis-server binary: tests start
#     their own to kill it)
#   CORO_PG_PORT, CORO_PG_SOCKDIR (the folder of its Unix socket)
#   CORO_MARIADB_PORT, CORO_MARIADB_SOCKET
# and, however COMMAND ends (or the script is interrupted), stops the
# servers and removes their folders. The exit status is COMMAND's.
#
# PostgreSQL and MariaDB refuse to run as root: as root, every server runs
# as the unprivileged user corotest (made when missing) through setpriv;
# as anyone else, as that user.
#
# Environment:
#   WITH_SERVERS="redis postgres mariadb"   the servers to start (a subset)
#   WITH_SERVERS_KEEP=1                     keep the folders (logs) after
#
# Needs the packages of bash .ci/install-deps test.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
WANT=${WITH_SERVERS:-redis postgres mariadb}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)

RUNAS=()
if [ "$(id -u)" = 0 ]; then
  if ! id corotest >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin corotest
  fi
  RUNAS=(setpriv --reuid=corotest --regid=corotest --clear-groups)
fi

DIR=$(mktemp -d /tmp/coro-servers.XXXXXX)
chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown corotest: "$DIR"

PIDS=()
cleanup() {
  local rc=$?
  set +e
  # PostgreSQL's immediate shutdown (SIGQUIT) takes its backends with it;
  # SIGKILL would leave them.
  [ -n "${PG_PID:-}" ] && kill -QUIT "$PG_PID" 2>/dev/null && wait "$PG_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null
  done
  if [ "${WITH_SERVERS_KEEP:-}" = 1 ]; then
    echo "with-servers: kept $DIR" >&2
  else
    rm -rf "$DIR"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port of 127.0.0.1, below the kernel's ephemeral range (where
# any client's connection may hold it) and not in use by any socket now
# (ss(8) when there, else by connecting: refused, nobody listens). A server
# that still loses a race for it fails to start, and the script with it.
free_port() {
  local p low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 12000 ] || low=32768
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % (low - 10000)))
    if command -v ss >/dev/null; then
      [ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return; }
    elif ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "with-servers: no free port" >&2
  return 1
}

# wait_for WHAT CMD...: run CMD until it succeeds, for up to 60 s.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 600); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "with-servers: $what did not start; its log:" >&2
  cat "$DIR"/*.log >&2 2>/dev/null || true
  return 1
}

# Servers that stay in the background are started with "${RUNAS[@]}" in
# place, not through this function: then $! is the server itself (setpriv
# execs it), which cleanup kills, not a subshell that would leave it.
as_user() { "${RUNAS[@]}" "$@"; }

for s in $WANT; do
  case $s in
  redis)
    CORO_REDIS_PORT=$(free_port)
    CORO_REDIS_SERVER=$(command -v redis-server)
    mkdir -p "$DIR/redis"
    [ "$(id -u)" = 0 ] && chown corotest: "$DIR/redis"
    # maxclients: the benchmark's 10,000 clients (redis lowers it to the
    # fd limit it is given, less 32).
    "${RUNAS[@]}" "$CORO_REDIS_SERVER" --port "$CORO_REDIS_PORT" --bind 127.0.0.1 \
      --save '' --appendonly no --dir "$DIR/redis" --maxclients 15000 \
      --protected-mode no --logfile "$DIR/redis.log" &
    PIDS+=($!)
    wait_for redis redis-cli -h 127.0.0.1 -p "$CORO_REDIS_PORT" ping
    export CORO_REDIS_PORT CORO_REDIS_SERVER
    ;;
  postgres)
    CORO_PG_PORT=$(free_port)
    PGDATA_DIR=$DIR/pg
    as_user "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust \
      --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 ||
      { cat "$DIR/initdb.log" >&2; exit 1; }
    # postgres itself, not pg_ctl's daemon: a child of this script, whose
    # CPU time (and its backends') counts in the command's when timed.
    "${RUNAS[@]}" "$PGBIN/postgres" -D "$PGDATA_DIR" -p "$CORO_PG_PORT" -k "$DIR" \
      -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off \
      -c synchronous_commit=off -c shared_buffers=16MB >"$DIR/postgres.log" 2>&1 &
    PG_PID=$!
    PIDS+=($PG_PID)
    wait_for postgres "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$CORO_PG_PORT"
    CORO_PG_SOCKDIR=$DIR
    export CORO_PG_PORT CORO_PG_SOCKDIR
    ;;
  mariadb)
    CORO_MARIADB_PORT=$(free_port)
    CORO_MARIADB_SOCKET=$DIR/mariadb.sock
    as_user mariadb-install-db --no-defaults --datadir="$DIR/mariadb" \
      --auth-root-authentication-method=normal --skip-test-db \
      >"$DIR/mariadb-install.log" 2>&1 ||
      { cat "$DIR/mariadb-install.log" >&2; exit 1; }
    "${RUNAS[@]}" mariadbd --no-defaults --datadir="$DIR/mariadb" \
      --port="$CORO_MARIADB_PORT" --bind-address=127.0.0.1 \
      --socket="$CORO_MARIADB_SOCKET" --pid-file="$DIR/mariadb.pid" \
      --log-error="$DIR/mariadb.log" --skip-grant-tables --skip-name-resolve \
      --skip-log-bin --max-connections=400 --innodb-buffer-pool-size=16M \
      2>>"$DIR/mariadb.log" &
    PIDS+=($!)
    wait_for mariadb mariadb-admin --no-defaults --protocol=tcp -h 127.0.0.1 \
      -P "$CORO_MARIADB_PORT" -u root ping
    export CORO_MARIADB_PORT CORO_MARIADB_SOCKET
    ;;
  *)
    echo "with-servers: unknown server '$s' (known: redis postgres mariadb)" >&2
    exit 2
    ;;
  esac
done

set +e
"$@"
exit $?
