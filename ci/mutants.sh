#!/usr/bin/env bash
# Mutation score of the model: cargo-mutants mutates model/ and judges each mutant by the
# model's unit tests plus a fast lockstep run against the kernel (harness/tests/mutant_check.rs:
# the corpus, a seeded search, a coverage floor). Needs root with CAP_BPF, like the tests.
#   MAPCHECK_MUTANTS_SHARD=k/n   run one round-robin shard (a sample) instead of all mutants
#   MAPCHECK_MUTANTS_JOBS=N      parallel build/test jobs (default 1; the judge mostly waits
#                                for RCU grace periods, so 4 jobs on 2 cores still pay)
#   MAPCHECK_MUTANTS_FILES="..." mutate only these globs under model/src (default: the oracle,
#                                below), e.g. "maps/*.rs", or harness paths such as
#                                "harness/src/replay.rs"
#   MAPCHECK_MUTANTS_RE='...'    only mutants whose names match (default: all of the oracle's
#                                files, and of fuzz.rs only the signature functions)
#   MAPCHECK_MUTANTS_ITERATE=1   skip the mutants mutants.out/ says were caught (cargo-mutants
#                                --iterate): a run over several sessions at one unchanged tree
# The oracle: model/src but gen.rs (the generator has its own judge: canaries and coverage),
# the runner's comparison (lockstep.rs), replay verdicts (replay.rs), the kernel outcome
# decoding (kernel.rs) and the fuzz signatures that decide whether a finding is new.
# Builds with the `mutants` profile (Cargo.toml: optimised, no debug info): about 2 s of
# build and 11 s of tests for a mutant that survives, half of the dev profile's time.
# Writes mutants.out/ (cargo-mutants' report) and mutants.out/summary.txt; a missed mutant
# that is not listed in ci/mutants-accepted.txt fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
files=()
set -f  # the globs are for cargo-mutants, not the shell
# A glob naming harness/ or model/ is taken as it is (the harness's comparison code);
# anything else is under model/src.
oracle="world.rs limits.rs maps/*.rs outcome.rs op.rs coverage.rs fault.rs errno.rs profile.rs
        reason.rs jhash.rs rfc.rs text.rs lib.rs harness/src/lockstep.rs harness/src/replay.rs
        harness/src/kernel.rs harness/src/fuzz.rs"
signatures='signature|one_line|header_signature|corpus_signatures|case_file|family_of'
re="^(model/|harness/src/(lockstep|replay|kernel)\\.rs:)|^harness/src/fuzz\\.rs:\\d+:\\d+: replace (\\S+ with \\S+ in )?($signatures)\\b"
for f in ${MAPCHECK_MUTANTS_FILES:-$oracle}; do
    case "$f" in harness/*|model/*) files+=(--file "$f") ;; *) files+=(--file "model/src/$f") ;; esac
done
set +f
# --copy-target: each job starts from the baseline's build below instead of building every
# dependency again (4 jobs on 2 cores spent 7 minutes on that before their first mutant). From
# a clean clone target/ holds only the `mutants` profile (about 600 MB per job).
args=("${files[@]}"
      --jobs "${MAPCHECK_MUTANTS_JOBS:-1}" --baseline skip --timeout 120 --build-timeout 600 --copy-target true
      --profile mutants --re "${MAPCHECK_MUTANTS_RE:-$re}")
# Which tests judge a mutant: .cargo/mutants.toml (the workspace's lib tests + mutant_check).
if [ "${MAPCHECK_MUTANTS_ITERATE:-0}" = 1 ]; then
    args+=(--iterate)
fi
if [ -n "${MAPCHECK_MUTANTS_SHARD:-}" ]; then
    args+=(--shard "$MAPCHECK_MUTANTS_SHARD" --sharding round-robin)
fi
export MAPCHECK_REQUIRE_KERNEL=1
# cargo-mutants' own baseline would run only the mutated package's tests: check the
# unmutated tree with the real test set instead, then skip its baseline.
cargo test --profile mutants --workspace --lib --test mutant_check --test corpus_mutation --test replay_verdicts
status=0
cargo mutants "${args[@]}" || status=$?
# cargo-mutants exits 2 when mutants were missed, 3 on timeouts; the lists say which.
out=mutants.out
# grep -c prints 0 for an empty list but exits 1: one number either way.
count() { if [ -f "$out/$1" ]; then grep -c . "$out/$1" || true; else echo 0; fi; }
caught=$(count caught.txt); missed=$(count missed.txt); unviable=$(count unviable.txt); timeout=$(count timeout.txt)
viable=$((caught + missed + timeout))
{
    echo "mutants caught:    $caught"
    echo "mutants missed:    $missed"
    echo "mutants timed out: $timeout (counted as caught: the test never passed)"
    echo "mutants unviable:  $unviable"
    [ "$viable" -gt 0 ] && echo "score: $(( (caught + timeout) * 1000 / viable / 10 )).$(( (caught + timeout) * 1000 / viable % 10 ))% of $viable viable"
} | tee "$out/summary.txt"
unaccepted=0
if [ -f "$out/missed.txt" ]; then
    while IFS= read -r m; do
        # Accepted lines are "<mutant as listed> # why it is equivalent".
        if ! grep -qF -- "$m #" ci/mutants-accepted.txt 2>/dev/null; then
            echo "MISSED (not accepted): $m"
            unaccepted=$((unaccepted + 1))
        fi
    done < "$out/missed.txt"
fi
[ "$status" -le 3 ] || exit "$status"
[ "$unaccepted" -eq 0 ]
