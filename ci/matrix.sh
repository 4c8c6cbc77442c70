#!/usr/bin/env bash
# The kernel matrix: mapcheck on every kernel line its users run, each booted under qemu.
#   bash ci/matrix.sh [LINE...]        lines: 5.10 6.1 6.12 7.2 7.3-rc host (default: all)
# For each line: the newest Debian-packaged cloud kernel is fetched once into a cache through a
# private apt configuration (the system's apt setup is never touched), a busybox initramfs is
# built with a static mapcheck and the corpus, and the guest runs the corpus replay, `mapcheck
# fuzz` for the budget (it goes on past a divergence, unlike `run`) and the cheap self-test
# canaries (ci/matrix-init.sh). The results come back as a tar on the second serial port; each
# kernel's JSON and JUnit summaries are in $MAPCHECK_MATRIX_OUT/<line>/. `host` is the running
# kernel, natively. A kernel that cannot be fetched or booted, or that sends nothing back, is
# reported as such (and fails the script), never as a pass.
#   MAPCHECK_MATRIX_BUDGET=30        seconds of fuzzing per kernel
#   MAPCHECK_MATRIX_SEED=1           fuzz seed (the same on every kernel)
#   MAPCHECK_MATRIX_JOBS=2           kernels booted at once (each guest takes one core: TCG)
#   MAPCHECK_MATRIX_CACHE=~/.cache/mapcheck-matrix   kernels and apt lists
#   MAPCHECK_MATRIX_OUT=matrix-out   results
#   MAPCHECK_MATRIX_CANARIES="..."   self-test faults run in each guest ("" for none)
#   MAPCHECK_MATRIX_REFRESH=1        look for newer kernel packages even when some are cached
#   MAPCHECK_MATRIX_STEPS="..."      which steps run (default: dialects replay fuzz selftest);
#                                    `.ci/run` runs "dialects replay" on 5.10
#   MAPCHECK_MATRIX_UNAVAILABLE_OK=1 a kernel that cannot be fetched is a loud skip, not a
#                                    failure (a CI without the Debian archive); boot failures
#                                    and missing results still fail
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
budget=${MAPCHECK_MATRIX_BUDGET:-30}
seed=${MAPCHECK_MATRIX_SEED:-1}
jobs=${MAPCHECK_MATRIX_JOBS:-2}
cache=${MAPCHECK_MATRIX_CACHE:-$HOME/.cache/mapcheck-matrix}
out=${MAPCHECK_MATRIX_OUT:-$root/matrix-out}
steps=${MAPCHECK_MATRIX_STEPS:-dialects replay fuzz selftest}
canaries=${MAPCHECK_MATRIX_CANARIES-array-noexist-succeeds hash-order-tail-insert kernel:update-not-stored kernel:wrong-errno-in-set kernel:fd-by-id-other-map}
lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(5.10 6.1 6.12 7.2 7.3-rc host)
start=$(date +%s)

# Which Debian package holds each line's kernel (the newest name matching wins), from which suite.
pkg_re() {
    case $1 in
        5.10) echo '^linux-image-5\.10\.0-[0-9]+-cloud-amd64$' ;;
        6.1) echo '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' ;;
        6.12) echo '^linux-image-6\.12\.[0-9]+\+deb1[23]-cloud-amd64-unsigned$' ;;
        7.2) echo '^linux-binary-7\.2\.[0-9]+\+deb[0-9]+-cloud-amd64$' ;;
        7.3-rc) echo '^linux-binary-7\.3-cloud-amd64$' ;;
        *) return 1 ;;
    esac
}

# The suites that carry each line's package.
suites_of() {
    case $1 in
        5.10) echo bullseye-security ;;
        6.1) printf '%s\n' bookworm bookworm-security ;;
        6.12) printf '%s\n' bookworm-security trixie ;;
        7.2) echo sid ;;
        7.3-rc) echo experimental ;;
    esac
}

# ---- what the script needs, installed like ci/setup.sh does --------------------------------
# shellcheck source=ci/setup.sh
source ci/setup.sh
need=()
for pkg in qemu-system-x86 busybox-static cpio; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "matrix: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- kernels: a private apt configuration over the machine's mirror ------------------------
apt_dir=$cache/apt
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
          -o Dir::State::status=/dev/null -o APT::Architecture=amd64 -o Debug::NoLocking=1
          -o Acquire::Retries=3)
apt_ready=
apt_update() {
    [ -n "$apt_ready" ] && return 0
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    local keys=/usr/share/keyrings/debian-archive-keyring.gpg
    # The machine's Debian mirror (deb.debian.org if none is named).
    local mirror
    mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 | tr -d ' ')
    mirror=${mirror:-http://deb.debian.org/debian}
    mirror=${mirror%/}
    {
        # Only the suites the requested lines come from (a CI replaying 5.10 fetches one
        # suite's lists, not six).
        local l suite
        for l in "${lines[@]}"; do suites_of "$l"; done | sort -u | while read -r suite; do
            case $suite in
                *-security) echo "deb [signed-by=$keys] ${mirror}-security $suite main" ;;
                *) echo "deb [signed-by=$keys] $mirror $suite main" ;;
            esac
        done
    } > "$apt_dir/sources.list"
    apt-get "${apt_opts[@]}" update -qq >"$apt_dir/update.log" 2>&1 || {
        echo "matrix: apt-get update failed (see $apt_dir/update.log)" >&2; return 1; }
    apt_ready=1
}

# Prints the path of the line's vmlinuz, fetching it if needed; fails with the reason on stderr.
fetch_kernel() {
    local line=$1 dir=$cache/kernels/$1 re pkg tmp vmlinuz
    if [ -f "$dir/vmlinuz" ] && [ -z "${MAPCHECK_MATRIX_REFRESH:-}" ]; then
        echo "$dir/vmlinuz"; return 0
    fi
    re=$(pkg_re "$line") || { echo "no package known for line $line" >&2; return 1; }
    apt_update || return 1
    pkg=$(apt-cache "${apt_opts[@]}" search --names-only "$re" 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
    [ -n "$pkg" ] || { echo "no package matches $re" >&2; return 1; }
    if [ -f "$dir/package" ] && [ "$(cat "$dir/package")" = "$pkg" ] && [ -f "$dir/vmlinuz" ]; then
        echo "$dir/vmlinuz"; return 0
    fi
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get "${apt_opts[@]}" download -qq "$pkg" >/dev/null 2>"$tmp/err") || {
        echo "download of $pkg failed: $(tail -1 "$tmp/err")" >&2; rm -rf "$tmp"; return 1; }
    dpkg-deb -x "$tmp"/*.deb "$tmp/x"
    vmlinuz=$(find "$tmp/x" -name 'vmlinuz*' -type f | head -1)
    [ -n "$vmlinuz" ] || { echo "$pkg holds no vmlinuz" >&2; rm -rf "$tmp"; return 1; }
    mkdir -p "$dir"
    cp "$vmlinuz" "$dir/vmlinuz.new" && mv "$dir/vmlinuz.new" "$dir/vmlinuz"
    echo "$pkg" > "$dir/package"
    dpkg-deb -f "$tmp"/*.deb Version > "$dir/version"
    rm -rf "$tmp"
    echo "$dir/vmlinuz"
}

# ---- the guest: a static mapcheck, the corpus and busybox in one initramfs -----------------
build_initramfs() {
    echo "matrix: building a static mapcheck" >&2
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet \
        --target x86_64-unknown-linux-gnu -p mapcheck
    local bin=target/x86_64-unknown-linux-gnu/release/mapcheck
    file "$bin" 2>/dev/null | grep -q 'dynamically linked' && { echo "matrix: $bin is not static" >&2; exit 1; }
    local dir=$out/initramfs
    rm -rf "$dir" && mkdir -p "$dir"/{bin,sbin,proc,sys,dev,tmp,mapcheck}
    cp /bin/busybox "$dir/bin/busybox"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"; done
    objcopy --strip-debug "$bin" "$dir/mapcheck/mapcheck"
    git ls-files -z regressions | xargs -0 cp --parents -t "$dir/mapcheck"
    cp ci/matrix-init.sh "$dir/init" && chmod +x "$dir/init"
    {
        echo "STEPS='$steps'"
        echo "BUDGET=$budget"
        echo "SEED=$seed"
        echo "CANARIES='$canaries'"
        echo "MEMLOCK=${MAPCHECK_MATRIX_MEMLOCK:-}"
    } > "$dir/matrix.env"
    (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 > "$out/initramfs.gz"
}

# KVM only where it works: a usable /dev/kvm and a CPU with vmx or svm (the PVM /dev/kvm of
# some cloud VMs has neither, and qemu then stops on an emulation failure). TCG runs one
# thread per guest: multi-threaded TCG crashed 6.12 and 7.2 guests (int3 oops in __schedule).
accel=(-accel tcg,thread=single)
if [ -w /dev/kvm ] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then accel=(-accel kvm -cpu host); fi

# Replay, the fuzz budget, the canaries, boot and margin; each step is itself bounded.
guest_timeout=$(( 300 + 3 * budget + 240 ))

run_guest() {
    local line=$1 dir=$out/$1 vmlinuz
    rm -rf "$dir" && mkdir -p "$dir"
    if ! vmlinuz=$(fetch_kernel "$line" 2>"$dir/fetch.err"); then
        echo "unavailable: $(tail -1 "$dir/fetch.err")" > "$dir/status"; return 0
    fi
    cat "$cache/kernels/$line/package" "$cache/kernels/$line/version" > "$dir/package" 2>/dev/null || true
    local t0=$SECONDS rc=0
    timeout "$guest_timeout" qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 2 \
        -kernel "$vmlinuz" -initrd "$out/initramfs.gz" \
        -append 'console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init' \
        -display none -monitor none -no-reboot -nodefaults \
        -serial "file:$dir/console.log" -serial "file:$dir/results.b64" </dev/null >"$dir/qemu.log" 2>&1 || rc=$?
    echo $((SECONDS - t0)) > "$dir/wall_s"
    if grep -q MAPCHECK-MATRIX-END "$dir/results.b64" 2>/dev/null; then
        if sed -n '/MAPCHECK-MATRIX-BEGIN/,/MAPCHECK-MATRIX-END/p' "$dir/results.b64" | sed '1d;$d' \
            | tr -d '\r' | base64 -d | tar x -C "$dir"; then
            echo "ran" > "$dir/status"
        else
            echo "no results: the guest's results did not decode (results.b64)" > "$dir/status"
        fi
    elif [ "$rc" -eq 124 ]; then
        echo "timeout: no results after ${guest_timeout}s (console.log)" > "$dir/status"
    else
        echo "no results: qemu exit $rc, the guest sent nothing (console.log)" > "$dir/status"
    fi
}

run_host() {
    # Each step's failure is a result, recorded like the guest's (set -e must not end the row).
    local dir=$out/host bin=$root/target/x86_64-unknown-linux-gnu/release/mapcheck rc
    rm -rf "$dir" && mkdir -p "$dir"
    local t0=$SECONDS
    uname -r > "$dir/release"; cat /proc/version > "$dir/version"
    wants() { case " $steps " in *" $1 "*) return 0 ;; esac; return 1; }
    echo "$steps" > "$dir/steps"
    if wants dialects; then "$bin" dialects > "$dir/dialects.txt" 2>&1 || true; fi
    if wants replay; then
        rc=0; (cd "$root" && "$bin" replay regressions) > "$dir/replay.txt" 2>&1 || rc=$?
        echo "$rc" > "$dir/replay.rc"
    fi
    if wants fuzz; then
        rc=0; (cd "$root" && "$bin" fuzz --budget "${budget}s" --seed "$seed" --out "$dir/found" \
            --corpus regressions --json "$dir/fuzz.json" --junit "$dir/fuzz.xml" --status-every 10s --segment 10s) \
            > "$dir/fuzz.txt" 2>&1 || rc=$?
        echo "$rc" > "$dir/fuzz.rc"
    fi
    if wants selftest && [ -n "$canaries" ]; then
        local args=() c
        for c in $canaries; do args+=(--fault "$c"); done
        rc=0; (cd "$root" && "$bin" selftest --budget 60s --out "$dir/canaries" "${args[@]}") > "$dir/selftest.txt" 2>&1 || rc=$?
        echo "$rc" > "$dir/selftest.rc"
    fi
    echo done > "$dir/complete"
    echo $((SECONDS - t0)) > "$dir/wall_s"
    echo "ran" > "$dir/status"
}

mkdir -p "$out"
build_initramfs
# Fetch every kernel first (apt is not safe to run twice at once over one cache).
for l in "${lines[@]}"; do
    [ "$l" = host ] || fetch_kernel "$l" >/dev/null 2>"$out/fetch-$l.err" || true
done
unset MAPCHECK_MATRIX_REFRESH  # fetched above; the guests use the cache
echo "matrix: ${lines[*]}: ${jobs} at a time, ${accel[*]}, budget ${budget}s, guest timeout ${guest_timeout}s" >&2
running=0
for l in "${lines[@]}"; do
    if [ "$l" = host ]; then run_host & else run_guest "$l" & fi
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait
dirs=()
for l in "${lines[@]}"; do dirs+=("$out/$l"); done
status=0
MAPCHECK_MATRIX_UNAVAILABLE_OK=${MAPCHECK_MATRIX_UNAVAILABLE_OK:-} \
    "$root/target/x86_64-unknown-linux-gnu/release/mapcheck" matrix-table --json "$out/matrix.json" --corpus regressions "${dirs[@]}" || status=$?
echo "matrix: total wall time $(( $(date +%s) - start )) s" >&2
exit "$status"
