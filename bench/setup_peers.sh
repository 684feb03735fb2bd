#!/usr/bin/env bash
# Create the benchmark virtualenvs under bench/.venvs/ (gitignored), one per
# peer plus one for the load driver, from the pinned files in
# bench/requirements/. Nothing is installed into the project's .venv.
#
# Idempotent: a venv is rebuilt only when its requirements file changed
# (a hash stamp is kept inside the venv).
#
#   bash bench/setup_peers.sh            # all: channels socketio bare driver
#   bash bench/setup_peers.sh channels   # just one
#   PYTHON=python3.11 bash bench/setup_peers.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$HERE/.venvs"
PYTHON="${PYTHON:-python3}"
NAMES=("$@")
if [ ${#NAMES[@]} -eq 0 ]; then
    NAMES=(channels socketio bare driver)
fi

mkdir -p "$VENVS"
for name in "${NAMES[@]}"; do
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
