#!/usr/bin/env bash
# Create the benchmark virtualenvs under bench/.venvs/ (gitignored), one per
# peer plus one for the Python load driver, from the pinned files in
# bench/requirements/, the Node load driver's packages
# (bench/driver_node/node_modules) and the Node peers' packages
# (bench/peers/node/node_modules), both gitignored, `npm ci` from their
# package-lock.json, npm registry only. Nothing is installed into the
# project's .venv, nothing globally.
#
# Idempotent: a venv (node_modules) is rebuilt only when its requirements file
# (package-lock.json) changed (a hash stamp is kept inside it).
#
#   bash bench/setup_peers.sh               # all: channels socketio bare driver driver_node node_peers
#   bash bench/setup_peers.sh channels      # just one
#   bash bench/setup_peers.sh driver_node   # the Node driver (needs node and npm on PATH)
#   bash bench/setup_peers.sh node_peers    # node_socketio and node_ws (node and npm too)
#   bash bench/setup_peers.sh plot          # matplotlib for bench/plot.py (not in the default set)
#   PYTHON=python3.11 bash bench/setup_peers.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$HERE/.venvs"
PYTHON="${PYTHON:-python3}"
NAMES=("$@")
if [ ${#NAMES[@]} -eq 0 ]; then
    NAMES=(channels socketio bare driver driver_node node_peers)
fi

# npm ci in DIR (NAME in messages) unless DIR/node_modules/PKG exists and the
# stamp matches package-lock.json's hash
setup_npm() {
    local name="$1" dir="$2" pkg="$3"
    local want have
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "setup_peers: $name needs node and npm on PATH" >&2
        exit 2
    fi
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    have="$(cat "$dir/node_modules/.bench-stamp" 2>/dev/null || true)"
    if [ -d "$dir/node_modules/$pkg" ] && [ "$want" = "$have" ]; then
        echo "setup_peers: $name up to date"
        return
    fi
    echo "setup_peers: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error --registry=https://registry.npmjs.org/)
    echo "$want" > "$dir/node_modules/.bench-stamp"
    echo "setup_peers: $name ready ($(node --version))"
}

mkdir -p "$VENVS"
for name in "${NAMES[@]}"; do
    if [ "$name" = driver_node ]; then
        setup_npm driver_node "$HERE/driver_node" ws
        continue
    fi
    if [ "$name" = node_peers ]; then
        setup_npm node_peers "$HERE/peers/node" socket.io
        continue
    fi
    req="$HERE/requirements/$name.txt"
    if [ ! -f "$req" ]; then
        echo "setup_peers: no requirements file $req" >&2
        exit 2
    fi
    venv="$VENVS/$name"
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    have="$(cat "$venv/.bench-stamp" 2>/dev/null || true)"
    if [ -x "$venv/bin/python" ] && [ "$want" = "$have" ]; then
        echo "setup_peers: $name up to date"
        continue
    fi
    echo "setup_peers: building $venv"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    "$venv/bin/python" -m pip freeze --disable-pip-version-check > "$venv/.bench-freeze.txt"
    echo "$want" > "$venv/.bench-stamp"
    echo "setup_peers: $name ready"
done
