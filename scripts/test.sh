#!/usr/bin/env bash
# Runs every test: installs the services tests need, then the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# Two cores: keep test binaries parallel but bounded.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
