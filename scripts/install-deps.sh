#!/bin/sh
# Installs what building, running and testing chatd needs on Debian 12, and nothing when it
# is already there. Usage: scripts/install-deps.sh [run|test]
set -eu
what="${1:-test}"

# Build and run: the Swift toolchain comes with the machine; these are the C libraries.
packages="libsqlite3-dev libsystemd-dev zlib1g-dev"
if [ "$what" = test ]; then
    # Browser test (Chromium + its driver), the article's smoke client (node + ws).
    packages="$packages chromium chromium-driver nodejs node-ws systemd"
    # Packaging and the real-systemd test: units, man pages, .deb, nginx, nspawn.
    packages="$packages systemd-container debootstrap lintian mandoc nginx-light openssl dpkg-dev"
    # Several nodes: a real PostgreSQL server (the cluster tests run their own, on loopback).
    packages="$packages postgresql"
    # scripts/screenshots.py: emoji and Chinese glyphs in the page's screenshots.
    packages="$packages fonts-noto-color-emoji fonts-wqy-microhei"
fi

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A node that did not come from Debian's package still counts as node.
if command -v node >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ nodejs//'); fi
if [ -n "$missing" ]; then
    echo "install-deps: apt-get install$missing"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if [ "$what" = test ]; then
    python3 -c "import selenium, pytest, websockets, jwt, schemathesis" 2>/dev/null || python3 -m pip install -q -r tests/requirements.txt
fi
