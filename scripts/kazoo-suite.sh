#!/usr/bin/env bash
# Run kazoo's OWN test-suite (kazoo/tests from its sdist) against one paddock
# server, through the pytest plugin tests/kazoo/kazoo_paddock_shim.py, which
# replaces kazoo's 3-node Java ZooKeeper harness with a single local server.
#
#   scripts/kazoo-suite.sh                  # against paddock ($PADDOCK_BIN or target/release/paddock)
#   KAZOO_SUITE_TARGET=zookeeper scripts/kazoo-suite.sh   # validate the shim on Apache ZooKeeper 3.8
#   scripts/kazoo-suite.sh -k test_lock     # extra pytest arguments pass through
#
# Deselected tests and the reason for each: tests/kazoo/deselect.txt.
# Needs the venv from scripts/test.sh (kazoo, pytest, pytest-timeout, objgraph).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
CACHE="$ROOT/.cache/kazoo-sdist"

KAZOO_VERSION="$("$PY" -c 'from kazoo.version import __version__; print(__version__)')"
SDIST_DIR="$CACHE/kazoo-$KAZOO_VERSION"
if [ ! -d "$SDIST_DIR/kazoo/tests" ]; then
    echo "kazoo-suite: fetching the kazoo $KAZOO_VERSION sdist (for kazoo/tests)"
    mkdir -p "$CACHE"
    "$PY" -m pip download --quiet --no-deps --no-binary :all: "kazoo==$KAZOO_VERSION" -d "$CACHE"
    tar -xzf "$CACHE/kazoo-$KAZOO_VERSION.tar.gz" -C "$CACHE"
fi

DESELECT=()
while IFS= read -r line; do
    id="${line%%#*}"
    id="$(echo "$id" | tr -d '[:space:]')"
    if [ -n "$id" ]; then
        DESELECT+=(--deselect "$id")
    fi
done < "$ROOT/tests/kazoo/deselect.txt"

export KAZOO_SUITE_TARGET="${KAZOO_SUITE_TARGET:-paddock}"
export KAZOO_SDIST_DIR="$SDIST_DIR"
export PYTHONPATH="$ROOT/tests/kazoo:$ROOT/tests/python${PYTHONPATH:+:$PYTHONPATH}"
# kazoo's harness and tests read these; the shim picks the server instead.
unset ZOOKEEPER_VERSION ZOOKEEPER_PATH ZOOKEEPER_CLASSPATH ZOOKEEPER_PORT_OFFSET \
      ZOOKEEPER_CLUSTER_SIZE ZOOKEEPER_OBSERVER_START_ID ZOOKEEPER_JAAS_AUTH \
      ZOOKEEPER_LOCAL_SESSION_RO

echo "kazoo-suite: kazoo $KAZOO_VERSION's tests against $KAZOO_SUITE_TARGET;" \
     "$(( ${#DESELECT[@]} / 2 )) tests deselected (tests/kazoo/deselect.txt)"
cd "$SDIST_DIR"
exec "$PY" -m pytest -c "$ROOT/tests/kazoo/pytest.ini" --rootdir "$SDIST_DIR" \
    -p no:cacheprovider "${DESELECT[@]}" kazoo/tests "$@"
