#!/bin/sh
# /init of a ci/matrix.sh guest (busybox sh, PID 1): mount what mapcheck needs, run the corpus
# replay, a fuzz run for the budget and the cheap self-test canaries, then send everything back
# over the second serial port as a base64 tar between marker lines, and power off.
# /matrix.env sets STEPS (which of dialects replay fuzz selftest), BUDGET (seconds), SEED,
# CANARIES (fault names) and MEMLOCK (ulimit -l).
export PATH=/bin:/sbin
mount -t proc none /proc
mount -t sysfs none /sys
mount -t devtmpfs none /dev
mount -t tmpfs none /tmp
mount -t bpf none /sys/fs/bpf
mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup
. /matrix.env
# The kernel's own RLIMIT_MEMLOCK at init is what the memlock dialect (before 5.11) sees:
# keep it unless MEMLOCK names another.
[ -n "$MEMLOCK" ] && ulimit -l "$MEMLOCK"
out=/tmp/out
mkdir -p "$out"
uname -r > "$out/release"
cat /proc/version > "$out/version"
ulimit -l > "$out/memlock"
cd /mapcheck
step() { # name, command...: its output in $out/name.txt, its exit code in $out/name.rc
    n=$1; shift
    echo "matrix-guest: $n" > /dev/console
    "$@" > "$out/$n.txt" 2>&1
    echo $? > "$out/$n.rc"
}
wants() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
echo "$STEPS" > "$out/steps"
wants dialects && step dialects ./mapcheck dialects
wants replay && step replay ./mapcheck replay regressions
if wants fuzz; then
    # Swarm weights change every 10 s, so a 30 s budget sees three op mixes.
    step fuzz ./mapcheck fuzz --budget "${BUDGET}s" --seed "$SEED" --out /tmp/found \
        --corpus regressions --json "$out/fuzz.json" --junit "$out/fuzz.xml" --status-every 10s --segment 10s
    [ -d /tmp/found ] && cp -r /tmp/found "$out/found"
fi
if wants selftest && [ -n "$CANARIES" ]; then
    set --
    for c in $CANARIES; do set -- "$@" --fault "$c"; done
    step selftest ./mapcheck selftest --budget 60s --out /tmp/canaries "$@"
fi
echo done > "$out/complete"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
{
    echo MAPCHECK-MATRIX-BEGIN
    tar c -C "$out" . | base64
    echo MAPCHECK-MATRIX-END
} > /dev/ttyS1
sync
poweroff -f
