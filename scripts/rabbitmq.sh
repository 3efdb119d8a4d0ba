#!/usr/bin/env bash
# A throwaway RabbitMQ for development and tests: on loopback ports of its own, as root,
# without systemd, with its state in one folder, and a TLS listener whose CA and certificates
# are made here with openssl.
#
#   scripts/rabbitmq.sh start [DIR]    start (or restart, keeping the data of) the broker in DIR;
#                                      waits until it answers, prints the variables the tests use
#   scripts/rabbitmq.sh stop [DIR]     stop it (SIGTERM, then SIGKILL after 30 s), and its epmd
#   scripts/rabbitmq.sh env [DIR]      print the variables again
#   scripts/rabbitmq.sh status [DIR]   exit 0 when the broker answers
#
# DIR defaults to $WEFT_RABBITMQ_DIR or /tmp/weft-rabbitmq. WEFT_RABBITMQ_REQUIRE_CLIENT_CERT=true
# makes the TLS listener refuse clients without a certificate signed by its CA (mutual TLS). WEFT_RABBITMQ_ERL_ARGS passes extra
# Erlang VM flags to the broker (e.g. "+sbwt none" to stop its schedulers spinning). Ports are chosen free at the first
# start (or taken from WEFT_RABBITMQ_PORT, WEFT_RABBITMQ_TLS_PORT) and kept in DIR/ports, so a
# restart comes back on the same ones. The variables printed (and written to DIR/env):
#   WEFT_AMQP_URL       amqp://guest:guest@127.0.0.1:PORT/
#   WEFT_AMQPS_URL      amqps://guest:guest@localhost:TLS_PORT/   (certificate for "localhost")
#   WEFT_AMQP_TLS_DIR   ca.pem, client.pem, client.key
#   WEFT_RABBITMQ_DIR   DIR
#   WEFT_AMQP_APP_URL   amqp://weft:PASSWORD@127.0.0.1:PORT/weft: a least-privilege user for a fleet
#                       with the default prefixes: the virtual host "weft" only, and on it only the
#                       exchanges and queues named weft.* (password made at the first start, kept in
#                       DIR/app-password); what a production broker should give Weft
set -euo pipefail

command=${1:-}
dir=${2:-${WEFT_RABBITMQ_DIR:-/tmp/weft-rabbitmq}}
server=/usr/lib/rabbitmq/bin/rabbitmq-server

die() { echo "rabbitmq.sh: $*" >&2; exit 1; }

# shellcheck source=scripts/ports.sh
. "$(dirname "$0")/ports.sh"
# shellcheck source=scripts/tls.sh
. "$(dirname "$0")/tls.sh"

# The broker is ready when its port answers an AMQP protocol header with a frame.
answers() {
    local port=$1 reply
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    printf 'AMQP\x00\x00\x09\x01' >&3
    reply=$(timeout 2 head -c 1 <&3 | od -An -tx1 | tr -d ' \n') || true
    exec 3<&- 3>&-
    [ "$reply" = "01" ]
}

load_ports() {
    [ -f "$dir/ports" ] || die "no broker state in $dir (run: $0 start $dir)"
    # shellcheck disable=SC1091
    . "$dir/ports"
}

print_env() {
    load_ports
    cat <<EOF
export WEFT_AMQP_URL=amqp://guest:guest@127.0.0.1:$PORT/
export WEFT_AMQPS_URL=amqps://guest:guest@localhost:$TLS_PORT/
export WEFT_AMQP_TLS_DIR=$dir/tls
export WEFT_RABBITMQ_DIR=$dir
export WEFT_AMQP_APP_URL=amqp://weft:$(cat "$dir/app-password")@127.0.0.1:$PORT/weft
EOF
}

# RabbitMQ's password hash (rabbit_password_hashing_sha256): base64(salt + sha256(salt + password)).
password_hash() {
    local salt
    salt=$(openssl rand -hex 4)
    { printf '%s' "$salt" | xxd -r -p; { printf '%s' "$salt" | xxd -r -p; printf '%s' "$1"; } | openssl dgst -sha256 -binary; } | base64 -w0
}

# The users and virtual hosts, loaded at boot: guest on "/" for the tests, and the least-privilege
# "weft" user on the "weft" virtual host, limited to names starting "weft.".
write_definitions() {
    [ -f "$dir/app-password" ] || openssl rand -hex 16 > "$dir/app-password"
    cat > "$dir/definitions.json" <<EOT
{
  "users": [
    {"name": "guest", "password_hash": "$(password_hash guest)", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]},
    {"name": "weft", "password_hash": "$(password_hash "$(cat "$dir/app-password")")", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}
  ],
  "vhosts": [{"name": "/"}, {"name": "weft"}],
  "permissions": [
    {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "weft", "vhost": "weft", "configure": "^weft[.].*", "write": "^weft[.].*", "read": "^weft[.].*"}
  ]
}
EOT
}

make_certificates() { make_test_certificates "$dir/tls"; }

start() {
    [ -x "$server" ] || die "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    mkdir -p "$dir"
    if [ ! -f "$dir/ports" ]; then
        local port tls dist epmd
        port=${WEFT_RABBITMQ_PORT:-$(free_port)}
        tls=${WEFT_RABBITMQ_TLS_PORT:-$(free_port)}
        dist=$(free_port); epmd=$(free_port)
        printf 'PORT=%s\nTLS_PORT=%s\nDIST_PORT=%s\nEPMD_PORT=%s\n' "$port" "$tls" "$dist" "$epmd" > "$dir/ports"
    fi
    load_ports
    if answers "$PORT"; then print_env; return; fi
    make_certificates
    mkdir -p "$dir/mnesia" "$dir/log"
    echo '[].' > "$dir/enabled_plugins"
    write_definitions
    cat > "$dir/rabbitmq.conf" <<EOF
load_definitions = $dir/definitions.json
listeners.tcp.default = 127.0.0.1:$PORT
listeners.ssl.default = 127.0.0.1:$TLS_PORT
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = ${WEFT_RABBITMQ_REQUIRE_CLIENT_CERT:-false}
log.console = false
log.file.level = warning
EOF
    # The broker's wrapper script stops the VM on SIGTERM, which a shell cannot trap if it was
    # ignored when the shell started (as in a child of some processes): `env --default-signal`
    # gives it back.
    # epmd is ours, on its own port, so that stopping it cannot disturb another Erlang node.
    ERL_EPMD_PORT=$EPMD_PORT setsid epmd -port "$EPMD_PORT" > "$dir/log/epmd.out" 2>&1 &
    echo $! > "$dir/epmd.pid"
    env HOME="$dir" ERL_EPMD_PORT="$EPMD_PORT" \
        RABBITMQ_NODENAME="weft$PORT@localhost" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
        RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
        RABBITMQ_PID_FILE="$dir/rabbitmq.pid" RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${WEFT_RABBITMQ_ERL_ARGS:-}" \
        setsid env --default-signal "$server" > "$dir/log/server.out" 2>&1 &
    echo $! > "$dir/server.pid"
    for _ in $(seq 1 120); do
        if answers "$PORT"; then print_env | tee "$dir/env"; return; fi
        kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || { tail -30 "$dir/log/server.out" >&2; die "the broker exited while starting"; }
        sleep 0.5
    done
    die "the broker did not answer on 127.0.0.1:$PORT within 60 s (logs in $dir/log)"
}

stop_pid() {
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

case "$command" in
    start) start ;;
    # The wrapper script stops the Erlang VM gracefully. A VM that outlived it (a broker restarted
    # from another process was seen to, and then ignored SIGTERM) is killed, by the pid file it writes.
    stop)
        stop_pid "$dir/server.pid"
        vm=$(cat "$dir/rabbitmq.pid" 2> /dev/null || true)
        if [ -n "$vm" ] && grep -q beam "/proc/$vm/cmdline" 2> /dev/null; then kill -KILL "$vm" 2> /dev/null || true; fi
        rm -f "$dir/rabbitmq.pid"
        stop_pid "$dir/epmd.pid" ;;
    env) print_env ;;
    status) load_ports; answers "$PORT" ;;
    *) die "usage: $0 start|stop|env|status [DIR]" ;;
esac
