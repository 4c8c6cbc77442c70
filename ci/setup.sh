#!/usr/bin/env bash
# Installs what building mapcheck needs on Debian, and only what is missing: the C toolchain
# and the libraries libbpf-sys builds against (plus the kernel UAPI headers the C reproducers
# are compiled against), and a Rust toolchain if there is none.
# Sourced by ci/check.sh and ci/test.sh; safe to run again.
set -euo pipefail

need=()
for pkg in libelf-dev zlib1g-dev pkg-config gcc make libc6-dev linux-libc-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "mapcheck setup: missing Debian packages ${need[*]}; run as root or install them" >&2
        exit 3
    fi
    echo "mapcheck setup: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
        echo "mapcheck setup: no cargo found; installing Rust with rustup" >&2
        command -v curl >/dev/null 2>&1 || { apt-get install -y -qq curl ca-certificates >/dev/null; }
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
    }
    export PATH="$HOME/.cargo/bin:$PATH"
fi
