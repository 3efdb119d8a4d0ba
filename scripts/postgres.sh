#!/usr/bin/env bash
# A throwaway PostgreSQL for development and tests: a cluster of its own in one folder, on a
# free loopback port, started as root without systemd (initdb and pg_ctl run as the `postgres`
# user), with a password for the `weft` user and a TLS certificate for "localhost" made here
# with openssl.
#
#   scripts/postgres.sh start [DIR]    create (once) and start the cluster in DIR; waits until it
#                                      answers, prints the variables the tests use
#   scripts/postgres.sh stop [DIR]     stop it (fast shutdown, then SIGKILL by pid after 30 s)
#   scripts/postgres.sh restart [DIR]  stop and start again, on the same port and data
#   scripts/postgres.sh env [DIR]      print the variables again
#
# DIR defaults to $WEFT_POSTGRES_DIR or /tmp/weft-postgres. fsync stays on (the default). The
# variables printed (and written to DIR/env):
#   WEFT_POSTGRES_URL       postgres://weft:PASSWORD@127.0.0.1:PORT/weft?sslmode=disable
#   WEFT_POSTGRES_TLS_URL   postgres://weft:PASSWORD@localhost:PORT/weft?sslmode=verify-full&sslrootcert=DIR/tls/ca.pem
#   WEFT_POSTGRES_DIR       DIR
set -euo pipefail

command=${1:-}
dir=${2:-${WEFT_POSTGRES_DIR:-/tmp/weft-postgres}}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

die() { echo "postgres.sh: $*" >&2; exit 1; }
[ -n "$bin" ] || die "PostgreSQL is not installed (apt-get install postgresql)"

# shellcheck source=scripts/ports.sh
. "$(dirname "$0")/ports.sh"

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

print_env() {
    [ -f "$dir/settings" ] || die "no cluster in $dir (run: $0 start $dir)"
    # shellcheck disable=SC1091
    . "$dir/settings"
    cat <<EOT
export WEFT_POSTGRES_URL='postgres://weft:$PASSWORD@127.0.0.1:$PORT/weft?sslmode=disable'
export WEFT_POSTGRES_TLS_URL='postgres://weft:$PASSWORD@localhost:$PORT/weft?sslmode=verify-full&sslrootcert=$dir/tls/ca.pem'
export WEFT_POSTGRES_DIR=$dir
EOT
}

create() {
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$(dirname "$dir")"; then
        die "the postgres user cannot reach $dir: make its parent folders traversable (chmod o+x)"
    fi
    local port password
    port=${WEFT_POSTGRES_PORT:-$(free_port)}
    password=$(openssl rand -hex 12)
    printf 'PORT=%s\nPASSWORD=%s\n' "$port" "$password" > "$dir/settings"
    mkdir -p "$dir/tls"
    (
        cd "$dir/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=weft-test-ca" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile san.ext -out server.pem 2>/dev/null
        chmod 600 server.key
    )
    chown -R postgres:postgres "$dir" 2>/dev/null || true
    chmod 700 "$dir"
    printf '%s\n' "$password" > "$dir/pwfile"
    chown postgres:postgres "$dir/pwfile" 2>/dev/null || true
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --pwfile="$dir/pwfile" -E UTF8 > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    rm -f "$dir/pwfile"
    cat >> "$dir/data/postgresql.conf" <<EOT
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
ssl = on
ssl_cert_file = '$dir/tls/server.pem'
ssl_key_file = '$dir/tls/server.key'
fsync = on
synchronous_commit = on
EOT
    # Extra settings, say for a benchmark's diagnosis (WEFT_POSTGRES_CONF="shared_preload_libraries = 'pg_stat_statements'").
    [ -z "${WEFT_POSTGRES_CONF:-}" ] || printf '%s\n' "$WEFT_POSTGRES_CONF" >> "$dir/data/postgresql.conf"
    start_server
    as_postgres "$bin/psql" -h "$dir" -p "$port" -U postgres -q -v ON_ERROR_STOP=1 <<EOT > /dev/null
CREATE USER weft PASSWORD '$password' CREATEDB;
CREATE DATABASE weft OWNER weft;
EOT
}

start_server() {
    # shellcheck disable=SC1091
    . "$dir/settings"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start > /dev/null \
        || { tail -20 "$dir/server.log" >&2; die "the server did not start"; }
}

stop_server() {
    [ -f "$dir/data/postmaster.pid" ] || return 0
    local pid
    pid=$(head -1 "$dir/data/postmaster.pid")
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop > /dev/null 2>&1 || {
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/data/postmaster.pid"
    }
}

case "$command" in
    start)
        if [ -f "$dir/settings" ]; then start_server; else create; fi
        print_env | tee "$dir/env"
        ;;
    stop) stop_server ;;
    restart) stop_server; start_server ;;
    env) print_env ;;
    *) die "usage: $0 start|stop|restart|env [DIR]" ;;
esac
