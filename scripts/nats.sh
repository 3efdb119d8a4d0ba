#!/usr/bin/env bash
# A throwaway nats-server with JetStream for development and tests: on a loopback port of its
# own, without systemd, with its configuration and JetStream store in one folder.
#
#   scripts/nats.sh start [DIR]    start (or restart, keeping the data of) the server in DIR;
#                                  waits until it answers, prints the variables the tests use
#   scripts/nats.sh stop [DIR]     stop it (SIGTERM, then SIGKILL after 30 s)
#   scripts/nats.sh env [DIR]      print the variables again
#   scripts/nats.sh status [DIR]   exit 0 when the server answers
#
# DIR defaults to $WEFT_NATS_DIR or /tmp/weft-nats. The port is chosen free at the first start
# (or taken from WEFT_NATS_PORT) and kept in DIR/ports, so a restart comes back on the same one.
# The variables printed (and written to DIR/env):
#   WEFT_NATS_URL   nats://weft:PASSWORD@127.0.0.1:PORT (a user made at the first start)
#   WEFT_NATS_DIR   DIR
set -euo pipefail

command=${1:-}
dir=${2:-${WEFT_NATS_DIR:-/tmp/weft-nats}}

die() { echo "nats.sh: $*" >&2; exit 1; }

# shellcheck source=scripts/ports.sh
. "$(dirname "$0")/ports.sh"

# The server is ready when its port greets with INFO.
answers() {
    local port=$1 reply
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    reply=$(timeout 2 head -c 4 <&3) || true
    exec 3<&- 3>&-
    [ "$reply" = "INFO" ]
}

load_ports() {
    [ -f "$dir/ports" ] || die "no server state in $dir (run: $0 start $dir)"
    # shellcheck disable=SC1091
    . "$dir/ports"
}

print_env() {
    load_ports
    cat <<EOT
export WEFT_NATS_URL=nats://weft:$(cat "$dir/password")@127.0.0.1:$PORT
export WEFT_NATS_DIR=$dir
EOT
}

running_pid() {
    [ -f "$dir/nats.pid" ] || return 1
    local pid
    pid=$(cat "$dir/nats.pid")
    kill -0 "$pid" 2> /dev/null && echo "$pid"
}

start() {
    command -v nats-server > /dev/null || die "nats-server is not installed (apt install nats-server, or scripts/install-dependencies.sh)"
    mkdir -p "$dir/jetstream"
    chmod 700 "$dir"
    if [ ! -f "$dir/ports" ]; then
        echo "PORT=${WEFT_NATS_PORT:-$(free_port)}" > "$dir/ports"
    fi
    load_ports
    [ -f "$dir/password" ] || openssl rand -hex 16 > "$dir/password"
    cat > "$dir/nats.conf" <<EOT
listen: 127.0.0.1:$PORT
jetstream {
  store_dir: "$dir/jetstream"
  max_memory_store: 256MB
  max_file_store: 4GB
}
authorization {
  users: [ { user: weft, password: "$(cat "$dir/password")" } ]
}
EOT
    chmod 600 "$dir/nats.conf"
    if pid=$(running_pid); then
        answers "$PORT" && { print_env | tee "$dir/env"; return; }
        kill "$pid" 2> /dev/null || true
    fi
    port_in_use "$PORT" && die "port $PORT is taken by another process"
    nats-server -c "$dir/nats.conf" -P "$dir/nats.pid" > "$dir/nats.log" 2>&1 &
    for _ in $(seq 1 100); do
        if answers "$PORT"; then print_env | tee "$dir/env"; return; fi
        sleep 0.1
    done
    tail -20 "$dir/nats.log" >&2
    die "nats-server did not answer on port $PORT"
}

stop() {
    local pid
    pid=$(running_pid) || return 0
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2> /dev/null || { rm -f "$dir/nats.pid"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2> /dev/null || true
    rm -f "$dir/nats.pid"
}

case "$command" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    status) load_ports; answers "$PORT" ;;
    *) die "usage: $0 start|stop|env|status [DIR]" ;;
esac
