#!/usr/bin/env bash
# Installs, with apt, what Weft's plugins and their tests need on Debian: librabbitmq-dev (the
# AMQP plugin's C library), liblmdb-dev (the LMDB plugin's), rabbitmq-server (the broker the tests talk to), openssl (their
# certificates), postgresql (the server the PostgreSQL store's tests talk to), tmux (the test of `weft top` drives it in a terminal). Does nothing when everything is there. Needs root (or sudo).
set -euo pipefail
packages=(librabbitmq-dev liblmdb-dev libnats-dev rabbitmq-server postgresql nats-server openssl pkg-config tmux)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" > /dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing ${missing[*]}" >&2
$sudo apt-get update -qq
# apt does not start services on these machines; the tests run their own broker.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
