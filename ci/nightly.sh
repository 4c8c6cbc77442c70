#!/usr/bin/env bash
# The nightly fuzz job. `mapcheck fuzz` on every core for MAPCHECK_BUDGET (default 10m),
# seeded from MAPCHECK_SEED or else the commit (so a rerun of the same commit repeats the
# search), then a replay of every case in regressions/found/. Exit 1 when anything new was
# found (no corpus case has its signature); otherwise a replay that fails (a found case that
# still diverges, or one that cannot be read or run) fails the job with its exit status.
# Artifacts go to MAPCHECK_ARTIFACTS (default nightly-out/): fuzz.log, summary.json,
# junit.xml, replay.log and the found cases (also left in regressions/found/), kept whatever
# the outcome. Then the kernel matrix (ci/matrix.sh, every line, MAPCHECK_MATRIX_BUDGET
# seconds of fuzzing per kernel, default 120 here; MAPCHECK_NIGHTLY_MATRIX=0 skips it): its
# failure fails the job too, after the host's verdict is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/setup.sh
source ci/setup.sh
budget=${MAPCHECK_BUDGET:-10m}
if [ -z "${MAPCHECK_SEED:-}" ]; then
    commit=$(git rev-parse HEAD 2>/dev/null || true)
    MAPCHECK_SEED=0x${commit:0:16}
    [ -n "$commit" ] || MAPCHECK_SEED=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ' | sed 's/^/0x/')
fi
art=${MAPCHECK_ARTIFACTS:-nightly-out}
mkdir -p "$art" regressions/found
cargo build --release --bin mapcheck
bin=target/release/mapcheck
export MAPCHECK_REQUIRE_KERNEL=1
echo "nightly: commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')  seed $MAPCHECK_SEED  budget $budget"
status=0
"$bin" fuzz --budget "$budget" --seed "$MAPCHECK_SEED" --out regressions/found \
    --json "$art/summary.json" --junit "$art/junit.xml" 2>&1 | tee "$art/fuzz.log" || status=${PIPESTATUS[0]}
# Every found case, new and old, replayed: the log shows whether each still reproduces, and a
# failing replay fails the job.
replay=0
if compgen -G "regressions/found/*.case" >/dev/null; then
    cp regressions/found/*.case "$art/"
    "$bin" replay regressions/found 2>&1 | tee "$art/replay.log" || replay=${PIPESTATUS[0]}
fi
matrix=0
if [ "${MAPCHECK_NIGHTLY_MATRIX:-1}" != 0 ]; then
    MAPCHECK_MATRIX_BUDGET=${MAPCHECK_MATRIX_BUDGET:-120} MAPCHECK_MATRIX_OUT="$art/matrix" \
        bash ci/matrix.sh 2>&1 | tee "$art/matrix.log" || matrix=${PIPESTATUS[0]}
fi
case $status in
    0) ;;
    1) echo "nightly: NEW findings; scripts in $art/ (and regressions/found/)"; exit 1 ;;
    *) echo "nightly: fuzz failed to run (exit $status)"; exit "$status" ;;
esac
if [ "$replay" -ne 0 ]; then
    echo "nightly: nothing new, but the replay of regressions/found/ failed (exit $replay): see $art/replay.log"
    exit "$replay"
fi
if [ "$matrix" -ne 0 ]; then
    echo "nightly: nothing new on this kernel, but the kernel matrix failed (exit $matrix): see $art/matrix.log"
    exit "$matrix"
fi
echo "nightly: nothing new"
