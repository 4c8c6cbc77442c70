#!/usr/bin/env bash
# Carries mutant verdicts from one commit's tree to another's: cargo-mutants names a mutant by
# file:line:col, so any edit above a mutant renames it and --iterate would judge it again. A
# mutant no edit touched (git diff -U0: no changed line within its span, no line inserted
# inside it) moves to its new line number; one whose span an edit touched is dropped, and is
# judged again.
#   ci/mutants-remap.sh OLD NEW SPANS LIST...   rewrites each list of mutant names in place
# SPANS: "name<TAB>last line of its span" for the mutants of OLD (`cargo mutants --list
# --json`); a name not in it is not a mutant of OLD and is dropped. A carried verdict assumes
# the judge did not weaken (tests are added, not removed) and that an edit elsewhere did not
# change what the untouched lines mean; a run without MAPCHECK_MUTANTS_ITERATE=1 judges every
# mutant afresh.
set -euo pipefail
old=$1 new=$2 spans=$3
shift 3
diff=$(mktemp)
trap 'rm -f "$diff"' EXIT
# Pinned prefixes and no external diff driver: the headers must read "diff --git a/X b/X".
git diff -U0 --no-renames --no-color --no-ext-diff --src-prefix=a/ --dst-prefix=b/ \
    "$old" "$new" > "$diff"
for list in "$@"; do
    [ -f "$list" ] || continue
    awk -v difffile="$diff" -v spanfile="$spans" '
    BEGIN {
        FS = "\t"
        while ((getline line < spanfile) > 0) {
            split(line, f, "\t")
            last[f[1]] = f[2] + 0
        }
        FS = " "
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
        if (!($0 in last)) next                   # not a mutant of OLD: a stale name
        # "path:line:col: description"
        split($0, p, ":")
        path = p[1]; s = p[2] + 0; e = last[$0]
        if (e < s) e = s
        rest = substr($0, length(path) + length(p[2]) + 3)
        off = 0
        for (k = 1; k <= count[path]; k++) {
            if (rm[path, k] > 0) {
                first = lo[path, k]; lastline = lo[path, k] + rm[path, k] - 1
                if (first <= e && lastline >= s) next   # an edited or deleted line in the span
                if (lastline < s) off += d[path, k]
            } else {
                # lines inserted after line lo
                if (lo[path, k] >= s && lo[path, k] < e) next
                if (lo[path, k] < s) off += d[path, k]
            }
        }
        print path ":" (s + off) ":" rest
    }
    ' "$list" > "$list.remap"
    mv "$list.remap" "$list"
done
