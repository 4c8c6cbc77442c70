#!/usr/bin/env bash
# One command for the whole test suite: installs what is missing, then `cargo test` over the
# workspace (unit tests, the corpus replay against the kernel, lockstep and fault tests).
# Kernel tests skip with a printed reason without CAP_BPF, unless MAPCHECK_REQUIRE_KERNEL=1;
# the last lines name every skipped test and count them, and the exit status is cargo's.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/setup.sh
log=$(mktemp "${TMPDIR:-/tmp}/mapcheck-test.XXXXXX")
trap 'rm -f "$log"' EXIT
# Piped through tee, cargo would drop its colours: keep them when a person is watching.
if [ -t 1 ] && [ -z "${CARGO_TERM_COLOR:-}" ]; then
    export CARGO_TERM_COLOR=always
fi
status=0
# --no-fail-fast: one run reports every failing test binary, not just the first. The skip
# lines go to stderr (see harness/src/env.rs, skip_loudly), so both streams go to the log.
cargo test --release --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# A skip line can share a line with libtest's `test name ... `: match it anywhere.
skipped=$(grep -aoE 'SKIPPED [^ :]+: .*' "$log" || true)
echo
if [ -n "$skipped" ]; then
    printf '%s\n' "$skipped"
fi
echo "kernel tests skipped: $(printf '%s' "$skipped" | grep -c . || true)"
exit "$status"
