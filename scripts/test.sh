#!/usr/bin/env bash
# Runs Weft's whole test suite from a fresh checkout on Debian with Swift installed.
# It installs whatever the tests need first; today that is nothing beyond Swift itself
# (brokers and stores join here as their plugins land).
set -euo pipefail
cd "$(dirname "$0")/.."

swift build --build-tests
# Every test is a Swift Testing test; XCTest would only report "0 tests".
swift test --skip-build --disable-xctest "$@"
