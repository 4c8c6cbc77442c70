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
#                                --iterate): a run over several sessions; verdicts on lines no
#                                commit since has touched are kept (ci/mutants-remap.sh); with
#                                no mutants.ledger/ here, it starts from ci/mutants-ledger/
#   ci/mutants.sh rejudge        the ledger's missed model mutants, judged again by the model's
#                                unit tests, and its pending harness mutants by the fast judge
#                                (after tests were added for them)
#   ci/mutants.sh save           after stopping a run: record what it wrote, and copy the
#                                ledger to ci/mutants-ledger/ (tracked: the next session's
#                                machine is not this one, and gitignored files do not travel)
#   ci/mutants.sh list           every mutant of the tree the run judges, one a line: with
#                                ci/mutants-table.py, the README's per-file table and score
# The oracle: model/src (gen.rs too: the judge's seeded search with its coverage floor and
# its quick canaries say whether the generator still does its job), the runner's comparison
# (lockstep.rs), replay verdicts (replay.rs), the kernel outcome decoding (kernel.rs) and the
# fuzz signatures that decide whether a finding is new.
# Builds with the `mutants` profile (Cargo.toml: optimised, no debug info): about 2 s of
# build and 11 s of tests for a mutant that survives, half of the dev profile's time.
# Stages: 1, the model's files by the model's unit tests; 2, the rest by the fast judge (the
# harness's unit tests, mutant_check, replay_verdicts), and what those let through by the full
# judge; mutants.ledger/pending.txt lists the ones the full judge has still to see.
# Writes mutants.out/ (cargo-mutants' report of the last stage), mutants.ledger/ (every verdict
# of the run, with summary.txt and a per-file table); a missed mutant that is not listed in
# ci/mutants-accepted.txt fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" = save ] || [ "${1:-}" = list ] || command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
files=()
set -f  # the globs are for cargo-mutants, not the shell
# A glob naming harness/ or model/ is taken as it is (the harness's comparison code);
# anything else is under model/src.
oracle="world.rs world/*.rs limits.rs maps/*.rs outcome.rs op.rs coverage.rs fault.rs errno.rs profile.rs
        reason.rs jhash.rs rfc.rs text.rs lib.rs gen.rs harness/src/lockstep.rs harness/src/replay.rs
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
common=(--jobs "${MAPCHECK_MUTANTS_JOBS:-1}" --baseline skip --build-timeout 600
        --copy-target true --profile mutants --re "${MAPCHECK_MUTANTS_RE:-$re}")
if [ "${1:-}" = list ]; then
    command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked >&2
    cargo mutants --list "${files[@]}" --re "${MAPCHECK_MUTANTS_RE:-$re}" | sort -u
    exit 0
fi
iterate=()
if [ "${MAPCHECK_MUTANTS_ITERATE:-0}" = 1 ] || [ "${1:-}" = save ] || [ "${1:-}" = rejudge ]; then
    iterate=(--iterate)
fi
if [ -n "${MAPCHECK_MUTANTS_SHARD:-}" ]; then
    common+=(--shard "$MAPCHECK_MUTANTS_SHARD" --sharding round-robin)
fi
export MAPCHECK_REQUIRE_KERNEL=1
# The corpus mutation test, as a judge of replay's verdicts: at most 10 edited lines a case
# (every line of the long LRU selftest sequences took 100 s a mutant; CI edits them all).
export MAPCHECK_CORPUS_MUTATION_MAX_LINES=10
out=mutants.out
ledger=mutants.ledger
saved=ci/mutants-ledger
# The ledger keeps every verdict across stages and iterations (cargo-mutants' --iterate keeps
# only a list of what to skip): one file per outcome, one mutant per line.
if [ ${#iterate[@]} -eq 0 ]; then
    rm -rf "$ledger" "$out"
fi
# A new machine: the ledger committed at the last stop, its verdicts skipped like caught ones.
if [ ${#iterate[@]} -gt 0 ] && [ ! -s "$ledger/commit" ] && [ -s "$saved/commit" ]; then
    mkdir -p "$ledger" "$out"
    cp "$saved"/* "$ledger"/
    cat "$ledger"/{caught,unviable,timeout}.txt 2>/dev/null | sort -u > "$out/previously_caught.txt"
fi
mkdir -p "$ledger"
# Ledgers from before the two-part stage 2 have no pending list: every miss was stage 1's.
[ -f "$ledger/pending.txt" ] || cp "$ledger/missed.txt" "$ledger/pending.txt" 2>/dev/null || true
# The stage that wrote $out (1, fast or full: below) decides what its lists mean.
record() {
    local stage
    stage=$(cat "$ledger/stage" 2>/dev/null || echo 1)
    touch "$ledger"/{caught,missed,timeout,unviable,pending}.txt
    for kind in caught missed timeout unviable; do
        [ -f "$out/$kind.txt" ] || continue
        case "$stage:$kind" in
            # The fast judge runs part of the full judge's tests: what it lets through (or
            # runs out of time on) waits for the full judge, and is not a verdict yet.
            fast:missed | fast:timeout) cat "$out/$kind.txt" >> "$ledger/pending.txt" ;;
            *) cat "$out/$kind.txt" >> "$ledger/$kind.txt" ;;
        esac
        # Stage 1 judges the model's files by part of the full judge too.
        [ "$stage:$kind" = 1:missed ] && cat "$out/$kind.txt" >> "$ledger/pending.txt"
        # The full judge's verdict is final.
        if [ "$stage" = full ]; then
            sort -u "$ledger/pending.txt" | comm -23 - <(sort -u "$out/$kind.txt") > "$ledger/pending.tmp"
            mv "$ledger/pending.tmp" "$ledger/pending.txt"
        fi
    done
    sort -u -o "$ledger/caught.txt" "$ledger/caught.txt"
    sort -u -o "$ledger/unviable.txt" "$ledger/unviable.txt"
    # A mutant caught later (by the full judge, or after a test was added) is caught.
    for kind in missed timeout pending; do
        sort -u "$ledger/$kind.txt" | comm -23 - "$ledger/caught.txt" > "$ledger/$kind.tmp"
        mv "$ledger/$kind.tmp" "$ledger/$kind.txt"
    done
}
# What cargo-mutants --iterate skips: every name in $out/{caught,unviable,previously_caught}.txt.
skip() {
    mkdir -p "$out"
    sort -u "$@" > "$out/skip.tmp"
    mv "$out/skip.tmp" "$out/previously_caught.txt"
}
# A run that was stopped never recorded its last stage: what it wrote counts.
[ ${#iterate[@]} -eq 0 ] || record
if [ "${1:-}" = save ]; then
    mkdir -p "$saved"
    cp "$ledger"/{caught,missed,timeout,unviable,pending}.txt "$ledger"/{commit,first} "$saved"/ 2>/dev/null || true
    echo "mutants.sh: the ledger (named at $(cat "$ledger/commit" 2>/dev/null)) is in $saved/: commit it"
    exit 0
fi
# The ledger names the mutants of a commit, and cargo-mutants copies the working tree: the
# two must be the same.
if [ -n "$(git status --porcelain -- model harness)" ]; then
    echo "mutants.sh: uncommitted changes under model/ or harness/: commit them first" >&2
    exit 2
fi
head=$(git rev-parse HEAD)
# The verdicts were named at the commit in $ledger/commit: keep only names that are mutants
# there (an interrupted run can leave an older tree's names), and carry each to this tree's
# name unless an edit touched its span (ci/mutants-remap.sh). Remapped copies replace the
# lists only once all are done.
if [ ${#iterate[@]} -gt 0 ] && [ -s "$ledger/commit" ]; then
    command -v jq >/dev/null || { echo "mutants.sh: the ledger carry-over needs jq" >&2; exit 2; }
    old=$(cat "$ledger/commit")
    tree=$(mktemp -d)
    git worktree add --detach -q "$tree/src" "$old"
    (cd "$tree/src" && cargo mutants --list --json "${files[@]}" --re "${MAPCHECK_MUTANTS_RE:-$re}") |
        jq -r '.[] | "\(.name)\t\(.span.end.line)"' > "$tree/spans"
    git worktree remove --force "$tree/src"
    carried=()
    for l in "$ledger"/{caught,missed,timeout,unviable,pending}.txt "$out"/{caught,missed,timeout,unviable,previously_caught}.txt; do
        [ -f "$l" ] && cp "$l" "$l.carry" && carried+=("$l.carry")
    done
    ci/mutants-remap.sh "$old" "$head" "$tree/spans" "${carried[@]}"
    for l in "${carried[@]}"; do mv "$l" "${l%.carry}"; done
    rm -rf "$tree"
fi
echo "$head" > "$ledger/commit"
[ -s "$ledger/first" ] || git rev-parse --short HEAD > "$ledger/first"
status=0
# `ci/mutants.sh rejudge`: the ledger's missed model mutants judged again by stage 1's tests
# (after tests were added for them); what those catch now is caught. The rest stay for
# stage 2, which judges every missed mutant again anyway.
if [ "${1:-}" = rejudge ]; then
    # Accepted ones are equivalent by their reasons: no test is meant to catch them.
    unaccepted() {
        grep "^$1/" "$2" | while IFS= read -r m; do
            grep -qF -- "$m #" ci/mutants-accepted.txt 2>/dev/null || printf '%s\n' "$m"
        done || true
    }
    as_re() { printf '%s\n' "$1" | sed 's/[][\.*^$()+?{}|]/\\&/g; s/.*/^&$/' | paste -sd'|'; }
    rm -rf "$ledger/rejudge" "$ledger/rejudge-fast"
    touch "$ledger/pending.txt"
    # The model's misses, by stage 1's tests.
    names=$(unaccepted model "$ledger/missed.txt")
    if [ -n "$names" ]; then
        cargo test --profile mutants -p mapcheck-model --lib
        cargo mutants --no-config -p mapcheck-model --test-workspace false --file 'model/src/**/*.rs' \
            --cargo-arg=--lib --jobs "${MAPCHECK_MUTANTS_JOBS:-1}" --baseline skip --copy-target true \
            --profile mutants --re "$(as_re "$names")" --timeout 60 -o "$ledger/rejudge" || true
    fi
    # The harness's pending ones, by the fast judge that let them through (its timeouts and
    # misses stay pending for the full judge).
    hnames=$(unaccepted harness "$ledger/pending.txt")
    if [ -n "$hnames" ]; then
        cargo test --profile mutants -p mapcheck --lib --test mutant_check --test replay_verdicts
        cargo mutants --no-config --test-package mapcheck --file 'harness/src/*.rs' --cargo-arg=--lib \
            --cargo-arg=--test=mutant_check --cargo-arg=--test=replay_verdicts \
            --jobs "${MAPCHECK_MUTANTS_JOBS:-1}" --baseline skip --copy-target true --profile mutants \
            --re "$(as_re "$hnames")" --timeout 90 -o "$ledger/rejudge-fast" || true
        for kind in caught unviable; do
            [ -f "$ledger/rejudge-fast/mutants.out/$kind.txt" ] && cat "$ledger/rejudge-fast/mutants.out/$kind.txt" >> "$ledger/$kind.txt"
        done
        sort -u "$ledger/pending.txt" | comm -23 - <(sort -u "$ledger/unviable.txt") > "$ledger/pending.tmp"
        mv "$ledger/pending.tmp" "$ledger/pending.txt"
    fi
    for kind in caught timeout unviable; do
        [ -f "$ledger/rejudge/mutants.out/$kind.txt" ] && cat "$ledger/rejudge/mutants.out/$kind.txt" >> "$ledger/$kind.txt"
    done
    sort -u -o "$ledger/caught.txt" "$ledger/caught.txt"
    for kind in missed timeout pending; do
        sort -u "$ledger/$kind.txt" | comm -23 - "$ledger/caught.txt" > "$ledger/$kind.tmp"
        mv "$ledger/$kind.tmp" "$ledger/$kind.txt"
    done
    sort -u "$ledger/missed.txt" | comm -23 - <(sort -u "$ledger/timeout.txt" "$ledger/unviable.txt") > "$ledger/missed.tmp"
    mv "$ledger/missed.tmp" "$ledger/missed.txt"
    echo "mutants.sh rejudge: $(cat "$ledger"/rejudge*/mutants.out/caught.txt 2>/dev/null | grep -c . || true) caught now, $(grep -c . "$ledger/missed.txt" || true) missed and $(grep -c . "$ledger/pending.txt" || true) pending left"
    exit 0
fi
# Stage 1, the model's files judged by the model's own unit tests: only the model crate is
# built per mutant (the full judge rebuilds the harness and links four test binaries, about
# 20 s of two cores). What they catch the full judge catches too: it runs them.
model_files=()
for ((i = 1; i < ${#files[@]}; i += 2)); do
    case "${files[$i]}" in model/*) model_files+=(--file "${files[$i]}") ;; esac
done
if [ ${#model_files[@]} -gt 0 ]; then
    cargo test --profile mutants -p mapcheck-model --lib
    # A mutant the ledger has as missed was missed by stage 1 already (or by the full judge,
    # which runs stage 1's tests too): stage 1 skips it, stage 2 judges it. Each restart spent
    # half an hour testing them again. Timeouts count as caught, and cargo-mutants --iterate
    # tests them again (30 s each): skipped too. (Caught and unviable ones too: a verdict the
    # ledger has from `rejudge` or another output directory is not in cargo-mutants' own list.)
    if [ ${#iterate[@]} -gt 0 ]; then
        touch "$ledger"/{caught,missed,timeout,unviable,pending}.txt
        mkdir -p "$out" && touch "$out/previously_caught.txt"
        skip "$ledger"/{caught,missed,timeout,unviable,pending}.txt "$out/previously_caught.txt"
    fi
    echo 1 > "$ledger/stage"
    s1=0
    # --timeout 60: the unit tests take 3 s alone, and up to 40 s at nice 19 beside other
    # builds (30 s turned such mutants into false timeouts); a generator mutant that loops
    # spent 120 s.
    # --lib: the unit tests only (without it each mutant also built the crate a second time,
    # for doctests, and ran rustdoc: about half of a stage-1 mutant's time).
    cargo mutants --no-config -p mapcheck-model --test-workspace false "${model_files[@]}" \
        --cargo-arg=--lib --exclude-re ': replace \| with \^$' "${common[@]}" "${iterate[@]}" \
        --timeout 60 || s1=$?
    [ "$s1" -le 3 ] || exit "$s1"
    record
fi
# Stage 2, the full judge (.cargo/mutants.toml: the workspace's lib tests, the corpus and a
# seeded search in mutant_check, corpus_mutation and replay_verdicts) for every mutant stage 1
# did not catch. cargo-mutants' own baseline would run only the mutated package's tests: check
# the unmutated tree with the real test set instead, then skip its baseline.
cargo test --profile mutants --workspace --lib --test mutant_check --test corpus_mutation --test replay_verdicts
touch "$ledger"/{caught,missed,timeout,unviable,pending}.txt
# It comes in two parts. The fast judge first, for mutants no stage has judged yet (the
# harness's): the harness's unit tests, mutant_check and replay_verdicts, about 35 s of
# tests where the full judge ran corpus_mutation (the slowest, 50 s) before them. What it
# catches the full judge catches too; what it lets through or runs out of time on is pending.
# (Stage 1's misses skip it: mostly equivalent mutants, which it would let through again.)
skip "$ledger"/{caught,missed,timeout,unviable,pending}.txt
echo fast > "$ledger/stage"
s2=0
cargo mutants --no-config --test-package mapcheck "${files[@]}" --cargo-arg=--lib \
    --cargo-arg=--test=mutant_check --cargo-arg=--test=replay_verdicts \
    --exclude-re ': replace \| with \^$' "${common[@]}" --iterate --timeout 90 || s2=$?
[ "$s2" -le 3 ] || exit "$s2"
record
# Then the full judge, for every pending mutant (and any still unjudged). --timeout 180: a
# surviving mutant's tests take 80-100 s under two jobs, and 120 s turned loaded ones into
# timeouts, which count as caught.
skip <(sort -u "$ledger"/{caught,missed,timeout,unviable}.txt | comm -23 - <(sort -u "$ledger/pending.txt"))
echo full > "$ledger/stage"
cargo mutants "${files[@]}" "${common[@]}" --iterate --timeout 180 || status=$?
record
# Verdicts count for the mutants of this tree only: an edit moves the mutants below it (new
# names, judged again by --iterate) and leaves the old names behind.
cargo mutants --list "${files[@]}" --re "${MAPCHECK_MUTANTS_RE:-$re}" | sort -u > "$ledger/all.txt"
for kind in caught missed timeout unviable pending; do
    comm -12 <(sort -u "$ledger/$kind.txt") "$ledger/all.txt" > "$ledger/$kind.tmp"
    mv "$ledger/$kind.tmp" "$ledger/$kind.txt"
done
untested=$(cat "$ledger"/{caught,missed,timeout,unviable}.txt | sort -u | comm -13 - "$ledger/all.txt" | grep -c . || true)
# cargo-mutants exits 2 when mutants were missed, 3 on timeouts; the lists say which.
# grep -c prints 0 for an empty list but exits 1: one number either way.
count() { grep -c . "$ledger/$1" || true; }
caught=$(count caught.txt); missed=$(count missed.txt); unviable=$(count unviable.txt); timeout=$(count timeout.txt)
viable=$((caught + missed + timeout))
{
    echo "mutants caught:    $caught"
    echo "mutants missed:    $missed"
    echo "mutants timed out: $timeout (counted as caught: the test never passed)"
    echo "mutants unviable:  $unviable"
    echo "mutants untested:  $untested (of $(grep -c . "$ledger/all.txt") at this tree; a finished run has none)"
    echo "mutants pending:   $(count pending.txt) (a part of the judge let them through or ran out of time; the full judge has not seen them)"
    echo "tree: $(git rev-parse --short HEAD); verdicts judged since $(cat "$ledger/first"), each kept while its line is unchanged"
    [ "$viable" -gt 0 ] && echo "score: $(( (caught + timeout) * 1000 / viable / 10 )).$(( (caught + timeout) * 1000 / viable % 10 ))% of $viable viable"
    echo
    echo "per file: caught+timeout / viable (missed)"
    cat "$ledger"/{caught,missed,timeout}.txt | cut -d: -f1 | sort -u | while read -r f; do
        c=$(cut -d: -f1 "$ledger/caught.txt" "$ledger/timeout.txt" | grep -cxF "$f" || true)
        m=$(cut -d: -f1 "$ledger/missed.txt" | grep -cxF "$f" || true)
        echo "$f $c/$((c + m)) ($m)"
    done
} | tee "$ledger/summary.txt"
unaccepted=0
while IFS= read -r m; do
    # Accepted lines are "<mutant as listed> # why it is equivalent".
    if ! grep -qF -- "$m #" ci/mutants-accepted.txt 2>/dev/null; then
        echo "MISSED (not accepted): $m"
        unaccepted=$((unaccepted + 1))
    fi
done < "$ledger/missed.txt"
# An accepted line that names no mutant of this tree is stale (its code moved or changed): its
# reason was checked against other code, and the mutant it meant, if still there, is unjudged
# by it. Each must be carried to the new name with its reason checked again, or removed.
stale=$(sed 's/ # .*//' ci/mutants-accepted.txt | grep . | sort -u | comm -23 - "$ledger/all.txt" || true)
[ -z "$stale" ] || printf 'STALE accepted (no such mutant at this tree): %s\n' $'\n'"$stale"
[ "$status" -le 3 ] || exit "$status"
[ "$unaccepted" -eq 0 ] && [ "$untested" -eq 0 ] && [ "$(count pending.txt)" -eq 0 ] && [ -z "$stale" ]
