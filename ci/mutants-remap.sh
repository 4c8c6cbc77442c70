#!/usr/bin/env bash
# Carries mutant verdicts from one commit's tree to another's: cargo-mutants names a mutant by
# file:line:col, so any edit above a mutant renames it and --iterate would judge it again. A
# name whose line is untouched between the two commits (git diff -U0) moves to its new line
# number; a name on an edited or deleted line is dropped, and that mutant is judged again.
#   ci/mutants-remap.sh OLD NEW LIST...   rewrites each list of mutant names in place
# A carried verdict assumes the judge did not weaken (tests are added, not removed) and that an
# edit elsewhere in the file did not change what the unchanged line means; a run without
# MAPCHECK_MUTANTS_ITERATE=1 judges every mutant afresh.
set -euo pipefail
old=$1 new=$2
shift 2
diff=$(mktemp)
trap 'rm -f "$diff"' EXIT
git diff -U0 --no-renames --no-color "$old" "$new" > "$diff"
for list in "$@"; do
    [ -s "$list" ] || continue
    awk -v difffile="$diff" '
    BEGIN {
        while ((getline line < difffile) > 0) {
            if (line ~ /^diff --git a\//) {
                cur = line; sub(/^diff --git a\//, "", cur); sub(/ b\/.*$/, "", cur)
                continue
            }
            if (line ~ /^@@ /) {
                # "@@ -old[,n] +new[,m] @@": n lines from old replaced by m lines
                split(line, f, " ")
                no = split(substr(f[2], 2), o, ","); nn = split(substr(f[3], 2), n, ",")
                k = ++count[cur]
                lo[cur, k] = o[1] + 0
                rm[cur, k] = (no > 1) ? o[2] + 0 : 1
                d[cur, k] = ((nn > 1) ? n[2] + 0 : 1) - rm[cur, k]
            }
        }
    }
    {
        # "path:line:col: description"
        split($0, p, ":")
        path = p[1]; ln = p[2] + 0
        rest = substr($0, length(path) + length(p[2]) + 3)
        off = 0
        for (k = 1; k <= count[path]; k++) {
            if (rm[path, k] > 0) {
                if (ln < lo[path, k]) break
                if (ln < lo[path, k] + rm[path, k]) next   # an edited or deleted line
            } else if (ln <= lo[path, k]) break            # lines inserted after line lo
            off += d[path, k]
        }
        print path ":" (ln + off) ":" rest
    }
    ' "$list" > "$list.remap"
    mv "$list.remap" "$list"
done
