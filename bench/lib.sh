# Shared helpers for bench/* scripts: build, temp dir, ports, PostgreSQL/PgBouncer/pgfunnel start-up, /proc sampling, cleanup.
# shellcheck shell=bash disable=SC2034 # globals (ports, PIDs, CLK_TCK) are for the sourcing scripts
# Sourced, not run; callers set -euo pipefail and call bench_init first.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGBOUNCER_BIN=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}
BUILD_DIR=${BUILD_DIR:-$BENCH_ROOT/build-bench}
BENCH_PORT_BASE=${BENCH_PORT_BASE:-21700}
CLK_TCK=$(getconf CLK_TCK)

BENCH_DIR=""
BENCH_PIDS=()      # processes to stop on exit, in start order
BENCH_PGDATA=()    # PostgreSQL data dirs to stop on exit
BENCH_NEXT_PORT=$BENCH_PORT_BASE

bench_log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
bench_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as the postgres OS user when we are root (initdb/postgres/pgbouncer refuse root).
# setpriv goes through no PAM session, so the raised RLIMIT_NOFILE is kept.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

bench_cleanup() {
  local rc=$?
  set +e
  local i pid
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BENCH_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for d in "${BENCH_PGDATA[@]}"; do
    as_pg "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
  done
  if [[ -n $BENCH_DIR && -d $BENCH_DIR ]]; then
    if [[ ${KEEP:-0} == 1 || $rc -ne 0 ]]; then
      bench_log "logs kept in $BENCH_DIR"
    else
      rm -rf "$BENCH_DIR"
    fi
  fi
  return "$rc"
}

# bench_init NAME: temp dir, traps, descriptor limit.
bench_init() {
  local name=$1 need=${2:-1024}
  BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pgfunnel-bench-$name.XXXX")
  chmod 755 "$BENCH_DIR"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$BENCH_DIR"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # Each idle client is one descriptor in the proxy and one in the client tool.
  if ! ulimit -n 65536 2>/dev/null; then
    local hard
    hard=$(ulimit -Hn)
    ulimit -n "$hard"
    bench_log "note: could not raise 'ulimit -n' to 65536 (hard limit $hard, CAP_SYS_RESOURCE missing?); using $hard"
  fi
  local now
  now=$(ulimit -n)
  if [[ $now != unlimited && $now -lt $need ]]; then
    bench_die "ulimit -n is $now, need at least $need"
  fi
}

# Builds pgfunnel and the bench tools (NO_BUILD=1 skips; PGFUNNEL_BIN/BENCH_BIN_DIR override).
bench_build() {
  if [[ ${NO_BUILD:-0} != 1 ]]; then
    bench_log "building in $BUILD_DIR"
    if [[ ! -f $BUILD_DIR/build.ninja ]]; then
      cmake -S "$BENCH_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPGFUNNEL_TESTS=OFF >/dev/null
    fi
    ninja -C "$BUILD_DIR" -j "${BENCH_JOBS:-2}" pgfunnel bench_idle_clients bench_exhaustion >"$BENCH_DIR/build.log" 2>&1 ||
      { tail -n 40 "$BENCH_DIR/build.log" >&2; bench_die "build failed"; }
  fi
  PGFUNNEL_BIN=${PGFUNNEL_BIN:-$BUILD_DIR/pgfunnel}
  BENCH_BIN_DIR=${BENCH_BIN_DIR:-$BUILD_DIR/bench}
  local f
  for f in "$PGFUNNEL_BIN" "$BENCH_BIN_DIR/bench_idle_clients" "$BENCH_BIN_DIR/bench_exhaustion" \
    "$PG_BIN/postgres" "$PG_BIN/pgbench" "$PGBOUNCER_BIN"; do
    [[ -x $f ]] || bench_die "missing executable: $f"
  done
}

# bench_port VAR: sets VAR to the next free TCP port at or above BENCH_PORT_BASE (below the ephemeral
# range). Not $(...): the counter must live in this shell.
bench_port() {
  local -n out=$1
  local p=$BENCH_NEXT_PORT
  while ss -Htln "sport = :$p" | grep . >/dev/null; do p=$((p + 1)); done
  ((p < 32768)) || bench_die "no free port below 32768"
  BENCH_NEXT_PORT=$((p + 1))
  out=$p
}

# start_postgres PORT MAX_CONNECTIONS [extra postgresql.conf lines...]: sets PGDATA_DIR, PG_PID.
start_postgres() {
  local port=$1 maxconn=$2
  shift 2
  PGDATA_DIR=$BENCH_DIR/pgdata
  printf 'postgres\n' >"$BENCH_DIR/pwfile"
  chown postgres:postgres "$BENCH_DIR/pwfile" 2>/dev/null || true
  as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --pwfile="$BENCH_DIR/pwfile" -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-instructions >"$BENCH_DIR/initdb.log" 2>&1 ||
    { cat "$BENCH_DIR/initdb.log" >&2; bench_die "initdb failed"; }
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$BENCH_DIR'"
    echo "max_connections = $maxconn"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "shared_buffers = 256MB"
    echo "password_encryption = 'scram-sha-256'"
    echo "log_min_messages = warning"
    local line
    for line in "$@"; do echo "$line"; done
  } >>"$PGDATA_DIR/postgresql.conf"
  BENCH_PGDATA+=("$PGDATA_DIR")
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$BENCH_DIR/postgres.log" -w -t 60 start >/dev/null ||
    { tail -n 30 "$BENCH_DIR/postgres.log" >&2; bench_die "PostgreSQL did not start"; }
  PG_PID=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
  PG_PORT=$port
}

# psql as postgres over TCP to the bench PostgreSQL.
pg_sql() {
  PGPASSWORD=postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

# start_pgbouncer PORT POOL_SIZE MAX_CLIENT_CONN USER PASSWORD: sets PGBOUNCER_PID.
# Optional, from the environment: PGBOUNCER_SECRET (what userlist.txt holds for USER, e.g. a SCRAM
# secret; default PASSWORD), PGBOUNCER_EXTRA_INI (lines appended to the [pgbouncer] section),
# READY_SSLMODE (see wait_ready).
start_pgbouncer() {
  local port=$1 pool=$2 maxclients=$3 user=$4 password=$5
  local ini=$BENCH_DIR/pgbouncer.ini
  printf '"%s" "%s"\n' "$user" "${PGBOUNCER_SECRET:-$password}" >"$BENCH_DIR/userlist.txt"
  cat >"$ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PG_PORT dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $BENCH_DIR/userlist.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = $maxclients
logfile = $BENCH_DIR/pgbouncer.log
pidfile = $BENCH_DIR/pgbouncer.pid
log_connections = 0
log_disconnections = 0
ignore_startup_parameters = extra_float_digits
EOF
  # [pgbouncer] is the last section, so appended lines land in it.
  if [[ -n ${PGBOUNCER_EXTRA_INI:-} ]]; then printf '%s\n' "$PGBOUNCER_EXTRA_INI" >>"$ini"; fi
  chown postgres:postgres "$ini" "$BENCH_DIR/userlist.txt" 2>/dev/null || true
  # Not through as_pg: a backgrounded shell function is a subshell, and $! must be pgbouncer itself
  # (setpriv execs it) for the CPU and RSS samples.
  local -a pre=()
  [[ $EUID -eq 0 ]] && pre=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  "${pre[@]}" "$PGBOUNCER_BIN" "$ini" >"$BENCH_DIR/pgbouncer.stderr" 2>&1 &
  PGBOUNCER_PID=$!
  BENCH_PIDS+=("$PGBOUNCER_PID")
  PGBOUNCER_PORT=$port
  wait_ready "$port" "$user" "$password" "$PGBOUNCER_PID" pgbouncer "$BENCH_DIR/pgbouncer.log"
  [[ $(</proc/"$PGBOUNCER_PID"/comm) == pgbouncer ]] || bench_die "pid $PGBOUNCER_PID is not pgbouncer"
}

# start_pgfunnel PORT POOL_SIZE MAX_CLIENT_CONN USER PASSWORD: sets PGFUNNEL_PID.
# Optional, from the environment: FUNNEL_EXTRA_ARGS (more command-line arguments, split at
# whitespace, no quoting), FUNNEL_LOG_FILE (default $BENCH_DIR/pgfunnel.log; a second instance needs
# its own), READY_SSLMODE (see wait_ready). Not PGFUNNEL_*: pgfunnel reads that prefix from its
# environment as settings and warns about names it does not know.
start_pgfunnel() {
  local port=$1 pool=$2 maxclients=$3 user=$4 password=$5
  local log=${FUNNEL_LOG_FILE:-$BENCH_DIR/pgfunnel.log}
  local -a extra=()
  read -ra extra <<<"${FUNNEL_EXTRA_ARGS:-}"
  "$PGFUNNEL_BIN" --upstream "postgres://$user:$password@127.0.0.1:$PG_PORT/postgres" \
    --listen-pooled "127.0.0.1:$port" --listen-direct off --listen-http off --pool-size "$pool" \
    --max-client-conn "$maxclients" \
    --log-level "${PGFUNNEL_LOG_LEVEL:-warn}" --workers "${PGFUNNEL_WORKERS:-1}" "${extra[@]}" >"$log" 2>&1 &
  PGFUNNEL_PID=$!
  BENCH_PIDS+=("$PGFUNNEL_PID")
  PGFUNNEL_PORT=$port
  wait_ready "$port" "$user" "$password" "$PGFUNNEL_PID" pgfunnel "$log"
  [[ $(</proc/"$PGFUNNEL_PID"/comm) == pgfunnel ]] || bench_die "pid $PGFUNNEL_PID is not pgfunnel"
}

# wait_ready PORT USER PASSWORD PID NAME LOG: until "SELECT 1" works through the port.
# READY_SSLMODE (e.g. require) is psql's sslmode when set, so a TLS listener only counts as ready once
# its handshake works; unset, libpq's default (PGSSLMODE, else prefer) applies as before.
wait_ready() {
  local port=$1 user=$2 password=$3 pid=$4 name=$5 log=$6 i
  local -a sslenv=()
  if [[ -n ${READY_SSLMODE:-} ]]; then sslenv=("PGSSLMODE=$READY_SSLMODE"); fi
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$log" >&2; bench_die "$name exited during start-up"; }
    if env "${sslenv[@]}" PGPASSWORD="$password" PGCONNECT_TIMEOUT=2 "$PG_BIN/psql" -X -Atq -h 127.0.0.1 \
      -p "$port" -U "$user" -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  tail -n 30 "$log" >&2
  bench_die "$name not answering on port $port"
}

# conninfo PORT USER PASSWORD
conninfo() { echo "host=127.0.0.1 port=$1 user=$2 password=$3 dbname=postgres sslmode=disable"; }

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; reaped.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# CPU time (user+system, all threads) of PID in clock ticks.
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat")
  stat=${stat##*) }  # fields after "pid (comm) "; utime and stime are fields 14 and 15 overall
  # shellcheck disable=SC2086
  set -- $stat
  echo $((${12} + ${13}))
}

# VmRSS of PID in bytes.
rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

machine_line() {
  local model
  model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  printf 'machine: nproc %s, %s, %s, kernel %s, load %s\n' "$(nproc)" "${model:-unknown CPU}" \
    "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# The source tree the pgfunnel binary was built from (read-only git; "+N modified" = uncommitted files):
# the source directory in the CMakeCache.txt beside the binary (a PGFUNNEL_BIN from another checkout
# or worktree), else this one.
tree_line() {
  local head dirty src=$BENCH_ROOT cache
  cache=$(dirname "$PGFUNNEL_BIN")/CMakeCache.txt
  if [[ -f $cache ]]; then
    src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
    [[ -d $src ]] || src=$BENCH_ROOT
  fi
  head=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
  printf 'tree: %s%s, pgfunnel binary %s (built %s)\n' "$head" "$( ((dirty > 0)) && echo " +$dirty modified files")" \
    "$PGFUNNEL_BIN" "$(date -r "$PGFUNNEL_BIN" '+%F %T')"
}

# ratio A B -> A/B with 2 decimals ("n/a" when B is 0 or either is empty).
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}
