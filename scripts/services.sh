#!/usr/bin/env bash
# Test services for berth's integration tests: a private Docker engine (with Swarm), a CNCF
# distribution registry and a private PostgreSQL cluster on 127.0.0.1. Installs the Debian packages
# when they are missing.
#
#   scripts/services.sh start   # idempotent; writes .tmp/services/env
#   scripts/services.sh stop
#   scripts/services.sh env     # print the env file path
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.tmp/services"
registry_port="${BERTH_TEST_REGISTRY_PORT:-5000}"
sock="$dir/docker.sock"
pg_port="${BERTH_TEST_PG_PORT:-55432}"
pg_data="$dir/pg"
pg_run="$dir/pg-run"

need_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  # The dashboard's browser test drives Debian's chromium (playwright-core, no browser download).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "services: missing ${missing[*]}; install them: sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
    echo "services: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # busybox-static must be the static build: test images are FROM scratch.
  if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' && ! ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'; then
    if [ "$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; fi
  fi
}

wait_for() { # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}

# The bin directory of the PostgreSQL that made the cluster, else the newest installed one
# (Debian keeps them out of PATH).
pg_bin() {
  if [ -f "$pg_data/PG_VERSION" ] && [ -x "/usr/lib/postgresql/$(cat "$pg_data/PG_VERSION")/bin/pg_ctl" ]; then
    echo "/usr/lib/postgresql/$(cat "$pg_data/PG_VERSION")/bin"
    return
  fi
  local initdb
  initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1)
  dirname "$initdb"
}

# Run a PostgreSQL tool: as the `postgres` system user when root (initdb and postgres refuse root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The postgres user must reach $dir: give every folder above it that it cannot enter the x bit only.
pg_reach() {
  [ "$(id -u)" = 0 ] || return 0
  local d="$dir"
  while [ "$d" != / ]; do
    runuser -u postgres -- test -x "$d" 2>/dev/null || chmod o+x "$d"
    d=$(dirname "$d")
  done
}

psql_admin() { # psql_admin SQL: as the cluster's superuser over the private socket
  as_pg "$(pg_bin)/psql" -h "$pg_run" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt -c "$1"
}

start_postgres() {
  local bin; bin=$(pg_bin)
  mkdir -p "$pg_run"
  pg_reach
  if [ ! -f "$pg_data/PG_VERSION" ]; then
    echo "services: initialising PostgreSQL ($pg_data)" >&2
    rm -rf "$pg_data"
    mkdir -p "$pg_data"
    [ "$(id -u)" != 0 ] || chown postgres:postgres "$pg_data"
    chmod 700 "$pg_data"
    # Unix socket: trust (the superuser sets up the role); TCP: passwords, as berth's URL has one.
    as_pg "$bin/initdb" -D "$pg_data" -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
      || { tail -30 "$dir/initdb.log" >&2; exit 1; }
    echo "include 'berth.conf'" | as_pg tee -a "$pg_data/postgresql.conf" >/dev/null
  fi
  [ "$(id -u)" != 0 ] || chown postgres:postgres "$pg_run"
  if ! as_pg "$bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    echo "services: starting PostgreSQL on 127.0.0.1:$pg_port" >&2
    # Settings of this start (the port may differ from the last one); included by postgresql.conf.
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\n" "$pg_port" "$pg_run" \
      | as_pg tee "$pg_data/berth.conf" >/dev/null
    touch "$dir/postgres.log"
    [ "$(id -u)" != 0 ] || chown postgres:postgres "$dir/postgres.log"
    as_pg "$bin/pg_ctl" -D "$pg_data" -l "$dir/postgres.log" -w -t 60 start >/dev/null || { tail -30 "$dir/postgres.log" >&2; exit 1; }
  fi
  wait_for 30 as_pg "$bin/pg_isready" -h "$pg_run" -p "$pg_port" || { tail -30 "$dir/postgres.log" >&2; exit 1; }
  if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'berth'")" != 1 ]; then
    psql_admin "CREATE ROLE berth LOGIN CREATEDB PASSWORD 'berth'"
  fi
  if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'berth_test'")" != 1 ]; then
    psql_admin "CREATE DATABASE berth_test OWNER berth"
  fi
}

start() {
  need_packages
  mkdir -p "$dir"
  if ! DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1; then
    echo "services: starting dockerd ($sock)" >&2
    # Bridge networks are /24s from one /16 (256 of them): every PR gets its own network, and the
    # default pools (/16s from 172.17-31 and 192.168) run out after ~30 at once.
    nohup dockerd --host "unix://$sock" --data-root "$dir/docker-data" --exec-root "$dir/docker-exec" \
      --default-address-pool base=10.210.0.0/16,size=24 \
      --pidfile "$dir/docker.pid" >"$dir/dockerd.log" 2>&1 &
    wait_for 60 env DOCKER_HOST="unix://$sock" docker info || { tail -30 "$dir/dockerd.log" >&2; exit 1; }
  fi
  local swarm_state
  swarm_state=$(DOCKER_HOST="unix://$sock" docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$swarm_state" = "error" ]; then
    # A single-node test swarm that could not come back (its port was taken at start): start it afresh.
    echo "services: swarm state is error; re-initialising the test swarm" >&2
    DOCKER_HOST="unix://$sock" docker swarm leave --force >/dev/null
    swarm_state=inactive
  fi
  if [ "$swarm_state" != "active" ]; then
    DOCKER_HOST="unix://$sock" docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  fi
  if ! curl -fsS "http://127.0.0.1:$registry_port/v2/" >/dev/null 2>&1; then
    echo "services: starting registry on 127.0.0.1:$registry_port" >&2
    mkdir -p "$dir/registry-data"
    cat >"$dir/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$registry_port
EOF
    nohup docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
    echo $! >"$dir/registry.pid"
    wait_for 30 curl -fsS "http://127.0.0.1:$registry_port/v2/" || { tail -30 "$dir/registry.log" >&2; exit 1; }
  fi
  start_postgres
  cat >"$dir/env" <<EOF
export BERTH_TEST_DOCKER_HOST=unix://$sock
export BERTH_TEST_REGISTRY=127.0.0.1:$registry_port
export BERTH_TEST_BUSYBOX=/bin/busybox
export BERTH_TEST_DATABASE_URL=postgres://berth:berth@127.0.0.1:$pg_port/berth_test
EOF
  echo "$dir/env"
}

stop() {
  if [ -f "$pg_data/PG_VERSION" ] && as_pg "$(pg_bin)/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    as_pg "$(pg_bin)/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null || true
  fi
  if [ -f "$dir/registry.pid" ]; then kill "$(cat "$dir/registry.pid")" 2>/dev/null || true; rm -f "$dir/registry.pid"; fi
  if [ -f "$dir/docker.pid" ]; then
    local pid; pid=$(cat "$dir/docker.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "$dir/env" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
