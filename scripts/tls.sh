# Test certificates for the throwaway servers (sourced by rabbitmq.sh and nats.sh).

# Makes, once, in folder $1: a CA (ca.pem, ca.key), a server certificate for "localhost" only
# (server.pem, server.key: 127.0.0.1 fails hostname checks, on purpose) and a client certificate
# (client.pem, client.key) for mutual TLS, all signed by the CA.
make_test_certificates() {
    local tls=$1
    [ -f "$tls/server.pem" ] && return
    mkdir -p "$tls"
    (
        cd "$tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Weft test CA" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=weft-client" -keyout client.key -out client.csr 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' > client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile client.ext -out client.pem 2>/dev/null
        chmod 644 ./*.pem ./*.key
    )
}
