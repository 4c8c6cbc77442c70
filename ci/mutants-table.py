#!/usr/bin/env python3
"""The README's per-file mutation table and score, from a ledger (ci/mutants.sh).

usage: ci/mutants-table.py LEDGER_DIR LIST_FILE [ACCEPTED_FILE]
LIST_FILE is `ci/mutants.sh list` (every mutant of the tree, one name a line). A pending
mutant (the full judge has not seen it) counts as missed in the score: no verdict is no catch.
"""
import collections
import sys


def names(path):
    try:
        with open(path) as f:
            return {line.rstrip("\n") for line in f if line.strip()}
    except FileNotFoundError:
        return set()


def main():
    ledger, listing = sys.argv[1], sys.argv[2]
    accepted_file = sys.argv[3] if len(sys.argv) > 3 else "ci/mutants-accepted.txt"
    every = names(listing)
    if not every:
        sys.exit(f"{listing}: no mutants listed")
    kinds = {k: names(f"{ledger}/{k}.txt") & every for k in ("caught", "timeout", "unviable", "missed", "pending")}
    accepted = {line.split(" # ", 1)[0] for line in names(accepted_file) if " # " in line}
    judged = set().union(*kinds.values())
    untested = every - judged
    rows = collections.defaultdict(collections.Counter)
    for m in every:
        f = m.split(":", 1)[0]
        f = f[len("model/src/"):] if f.startswith("model/src/") else f
        r = rows[f]
        r["mutants"] += 1
        for k, s in kinds.items():
            if m in s:
                r[k] += 1
                if k in ("missed", "pending") and m in accepted:
                    r[k + "_acc"] += 1
        if m in untested:
            r["untested"] += 1
    print("| file | mutants | caught | timeout | unviable | missed (accepted) | pending (accepted) |")
    print("|---|---|---|---|---|---|---|")
    for f, r in sorted(rows.items(), key=lambda kv: (-kv[1]["mutants"], kv[0])):
        print(f"| `{f}` | {r['mutants']} | {r['caught']} | {r['timeout']} | {r['unviable']} "
              f"| {r['missed']} ({r['missed_acc']}) | {r['pending']} ({r['pending_acc']}) |")
    caught, timeout = len(kinds["caught"]), len(kinds["timeout"])
    # A mutant missed by stage 1 and pending the full judge is one miss, not two.
    not_caught = kinds["missed"] | kinds["pending"]
    viable = caught + timeout + len(not_caught)
    unaccepted = sorted(not_caught - accepted)
    print()
    print(f"mutants {len(every)} (model {sum(1 for m in every if m.startswith('model/'))}, "
          f"harness {sum(1 for m in every if m.startswith('harness/'))}); caught {caught}, "
          f"timeout {timeout}, unviable {len(kinds['unviable'])}, missed {len(kinds['missed'])}, "
          f"pending {len(kinds['pending'])}, untested {len(untested)}")
    if viable:
        apart = caught + len(not_caught)
        print(f"score: {100 * caught / apart:.1f}% of {apart} viable caught, timeouts apart; "
              f"{100 * (caught + timeout) / viable:.1f}% of {viable} with timeouts as caught, "
              f"{100 * caught / viable:.1f}% with them as not caught; "
              f"not caught {len(not_caught)}, {len(not_caught) - len(unaccepted)} of them accepted")
    for m in unaccepted:
        print(f"NOT ACCEPTED: {m}")


if __name__ == "__main__":
    main()
