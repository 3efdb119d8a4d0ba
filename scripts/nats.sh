#!/usr/bin/env bash
# Throwaway nats-servers with JetStream for development and tests, without systemd, with their
# configuration and JetStream stores in one folder: one on a plain loopback port, and one whose
# port takes TLS only and asks clients for a certificate signed by its CA (mutual TLS), with a
# CA and certificates made here with openssl.
#
#   scripts/nats.sh start [DIR]    start (or restart, keeping the data of) the server in DIR;
#                                  waits until it answers, prints the variables the tests use
#   scripts/nats.sh stop [DIR]     stop it (SIGTERM, then SIGKILL after 30 s)
#   scripts/nats.sh env [DIR]      print the variables again
#   scripts/nats.sh status [DIR]   exit 0 when the server answers
#
# DIR defaults to $WEFT_NATS_DIR or /tmp/weft-nats. Ports are chosen free at the first start
# (or taken from WEFT_NATS_PORT, WEFT_NATS_TLS_PORT) and kept in DIR/ports, so a restart comes
# back on the same ones. The variables printed (and written to DIR/env):
#   WEFT_NATS_URL       nats://weft:PASSWORD@127.0.0.1:PORT (a user made at the first start)
#   WEFT_NATS_TLS_URL   tls://weft:PASSWORD@localhost:TLS_PORT (certificate for "localhost")
#   WEFT_NATS_TLS_DIR   ca.pem, client.pem, client.key
#   WEFT_NATS_DIR       DIR
set -euo pipefail

command=${1:-}
dir=${2:-${WEFT_NATS_DIR:-/tmp/weft-nats}}

die() { echo "nats.sh: $*" >&2; exit 1; }

# shellcheck source=scripts/ports.sh
. "$(dirname "$0")/ports.sh"
# shellcheck source=scripts/tls.sh
. "$(dirname "$0")/tls.sh"

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
export WEFT_NATS_TLS_URL=tls://weft:$(cat "$dir/password")@localhost:$TLS_PORT
export WEFT_NATS_TLS_DIR=$dir/tls
export WEFT_NATS_DIR=$dir
EOT
}

# The pid of server NAME (nats or nats-tls) when it runs.
running_pid() {
    [ -f "$dir/$1.pid" ] || return 1
    local pid
    pid=$(cat "$dir/$1.pid")
    kill -0 "$pid" 2> /dev/null && echo "$pid"
}

# Writes NAME.conf: a server on PORT with JetStream in DIR/NAME, and the TLS block given.
write_config() {
    local name=$1 port=$2 tls_block=$3
    mkdir -p "$dir/$name"
    cat > "$dir/$name.conf" <<EOT
listen: 127.0.0.1:$port
server_name: weft-test-$name
jetstream {
  store_dir: "$dir/$name"
  max_memory_store: 256MB
  max_file_store: 4GB
}
authorization {
  users: [ { user: weft, password: "$(cat "$dir/password")" } ]
}
$tls_block
EOT
    chmod 600 "$dir/$name.conf"
}

# Starts server NAME on PORT unless it answers already.
start_server() {
    local name=$1 port=$2 pid
    if pid=$(running_pid "$name"); then
        answers "$port" && return
        kill "$pid" 2> /dev/null || true
    fi
    port_in_use "$port" && die "port $port is taken by another process"
    nats-server -c "$dir/$name.conf" -P "$dir/$name.pid" > "$dir/$name.log" 2>&1 &
    for _ in $(seq 1 100); do
        answers "$port" && return
        sleep 0.1
    done
    tail -20 "$dir/$name.log" >&2
    die "nats-server ($name) did not answer on port $port"
}

start() {
    command -v nats-server > /dev/null || die "nats-server is not installed (apt install nats-server, or scripts/install-dependencies.sh)"
    mkdir -p "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/ports" ]; then
        local port tls_port
        port=${WEFT_NATS_PORT:-$(free_port)}
        tls_port=${WEFT_NATS_TLS_PORT:-$(free_port)}
        [ "$tls_port" = "$port" ] && tls_port=$(free_port)
        printf 'PORT=%s\nTLS_PORT=%s\n' "$port" "$tls_port" > "$dir/ports"
    fi
    load_ports
    [ -f "$dir/password" ] || openssl rand -hex 16 > "$dir/password"
    make_test_certificates "$dir/tls"
    write_config nats "$PORT" ""
    write_config nats-tls "$TLS_PORT" "tls {
  cert_file: \"$dir/tls/server.pem\"
  key_file: \"$dir/tls/server.key\"
  ca_file: \"$dir/tls/ca.pem\"
  verify: true
}"
    start_server nats "$PORT"
    start_server nats-tls "$TLS_PORT"
    print_env | tee "$dir/env"
}

# Stops server NAME (SIGTERM, then SIGKILL after 30 s).
stop_server() {
    local pid
    pid=$(running_pid "$1") || return 0
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2> /dev/null || { rm -f "$dir/$1.pid"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2> /dev/null || true
    rm -f "$dir/$1.pid"
}

stop() {
    stop_server nats
    stop_server nats-tls
}

case "$command" in
    start) start ;;
    stop) stop ;;
    env) print_env ;;
    status) load_ports; answers "$PORT" ;;
    *) die "usage: $0 start|stop|env|status [DIR]" ;;
esac
