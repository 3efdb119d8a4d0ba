# Loopback port helpers for the throwaway servers (sourced by rabbitmq.sh and postgres.sh, which
# define `die`).

# Whether something listens on loopback port $1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A loopback port nothing listens on, between 20000 and 39999.
free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 20000))
        if ! port_in_use "$port"; then echo "$port"; return; fi
    done
    die "no free loopback port found"
}
