#!/usr/bin/env bash
# Test services for berth's integration tests: a private Docker engine (with Swarm) and a CNCF
# distribution registry on 127.0.0.1. Installs the Debian packages when they are missing.
#
#   scripts/services.sh start   # idempotent; writes .tmp/services/env
#   scripts/services.sh stop
#   scripts/services.sh env     # print the env file path
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.tmp/services"
registry_port="${BERTH_TEST_REGISTRY_PORT:-5000}"
sock="$dir/docker.sock"

need_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  [ -x /bin/busybox ] || missing+=(busybox-static)
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

start() {
  need_packages
  mkdir -p "$dir"
  if ! DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1; then
    echo "services: starting dockerd ($sock)" >&2
    nohup dockerd --host "unix://$sock" --data-root "$dir/docker-data" --exec-root "$dir/docker-exec" \
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
  cat >"$dir/env" <<EOF
export BERTH_TEST_DOCKER_HOST=unix://$sock
export BERTH_TEST_REGISTRY=127.0.0.1:$registry_port
export BERTH_TEST_BUSYBOX=/bin/busybox
EOF
  echo "$dir/env"
}

stop() {
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
