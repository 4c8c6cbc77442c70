#!/usr/bin/env bash
# One command for the whole test suite: installs what is missing, then `cargo test` over the
# workspace (unit tests, the corpus replay against the kernel, lockstep and fault tests).
# Kernel tests skip with a printed reason without CAP_BPF, unless MAPCHECK_REQUIRE_KERNEL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
# --no-fail-fast: one run reports every failing test binary, not just the first.
exec cargo test --release --workspace --no-fail-fast "$@"
