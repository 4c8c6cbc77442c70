#!/usr/bin/env bash
# One command for a check of the running kernel: installs what is missing, builds, and runs
# `mapcheck run` (arguments pass through, e.g. --budget 5m --map hash).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
cargo build --release --quiet
exec ./target/release/mapcheck run "$@"
