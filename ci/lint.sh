#!/usr/bin/env bash
# Formatting and lints, as the project keeps them: both must be clean.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
