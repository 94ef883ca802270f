#!/usr/bin/env bash
# The one command that runs every test of paddock, on a fresh Debian machine
# or an already prepared one (each setup step is skipped when already done):
#
#   1. system packages: Apache ZooKeeper 3.8 (zookeeper, zookeeper-bin,
#      libzookeeper-java) -- the reference server, zkCli.sh and cli_mt
#   2. Python venv at .venv with tests/requirements.txt (kazoo, pytest, ...)
#   3. cargo build --release -p paddock
#   4. cargo test --workspace --release
#   5. pytest tests/python against paddock and ZooKeeper (incl. differential)
#   6. kazoo's own test-suite against paddock (scripts/kazoo-suite.sh)
#
# Usage: scripts/test.sh [SECTION...]   SECTION: setup rust python kazoo
#        (default: all).  Extra pytest args: PYTEST_ARGS="-k lock -x".
# Exits non-zero if any section fails; the last line sums the test counts.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
LOGDIR="$ROOT/target/test-logs"
mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/*.log  # the summary sums counts from this run's logs only
export PADDOCK_BIN="${PADDOCK_BIN:-$ROOT/target/release/paddock}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1

SECTIONS=("$@")
[ ${#SECTIONS[@]} -eq 0 ] && SECTIONS=(setup rust python kazoo)
want() { local s; for s in "${SECTIONS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

START=$SECONDS
RESULTS=()
FAILED=0
STEP=0

header() {
    STEP=$((STEP + 1))
    echo
    echo "=================================================================="
    echo "== [$STEP] $*"
    echo "=================================================================="
}

# Wall-clock limits per section, so a server that hangs cannot hang CI
# (per-test limits come from pytest-timeout; servers die with the runner).
LIMIT_CARGO_TEST="${LIMIT_CARGO_TEST:-1200}"
LIMIT_PYTEST="${LIMIT_PYTEST:-1500}"
LIMIT_KAZOO="${LIMIT_KAZOO:-1200}"
limit() { local secs="$1"; shift; timeout --signal=TERM --kill-after=30 "$secs" "$@"; }

# run NAME LOGFILE CMD...: run a section, tee its output, record the outcome.
run() {
    local name="$1" log="$2"
    shift 2
    local t0=$SECONDS rc
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
        RESULTS+=("PASS  $name ($((SECONDS - t0))s)")
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        RESULTS+=("FAIL  $name (time limit hit, $((SECONDS - t0))s; log: ${log#$ROOT/})")
        FAILED=1
    else
        RESULTS+=("FAIL  $name (exit $rc, $((SECONDS - t0))s; log: ${log#$ROOT/})")
        FAILED=1
    fi
    return "$rc"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- 1. system packages ----------------------------------------------------
APT_PKGS=(zookeeper zookeeper-bin libzookeeper-java)

apt_missing() {
    local p missing=()
    for p in "${APT_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    command -v java >/dev/null || missing+=(default-jre-headless)
    echo "${missing[@]}"
}

setup_apt() {
    local missing
    missing="$(apt_missing)"
    if [ -z "$missing" ]; then
        echo "already installed: ${APT_PKGS[*]} ($(dpkg-query -W -f='${Version}' zookeeper))"
        return 0
    fi
    echo "installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    # Try without refreshing the package lists first; refresh only if needed.
    # shellcheck disable=SC2086
    if ! as_root apt-get install -y -q --no-install-recommends $missing; then
        as_root apt-get update -q || return 1
        # shellcheck disable=SC2086
        as_root apt-get install -y -q --no-install-recommends $missing || return 1
    fi
    [ -z "$(apt_missing)" ]
}

# --- 2. Python venv ----------------------------------------------------------
setup_venv() {
    local req="$ROOT/tests/requirements.txt" stamp="$VENV/.requirements.sha256" want_hash
    want_hash="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_hash" ]; then
        echo "venv up to date: $VENV"
        return 0
    fi
    if [ ! -x "$PY" ]; then
        if ! python3 -m venv "$VENV"; then
            echo "python3 -m venv failed; installing python3-venv"
            rm -rf "$VENV"
            as_root apt-get install -y -q python3-venv \
                || { as_root apt-get update -q && as_root apt-get install -y -q python3-venv; } \
                || return 1
            python3 -m venv "$VENV" || return 1
        fi
    fi
    "$PY" -m pip install -q -r "$req" || return 1
    echo "$want_hash" > "$stamp"
    "$PY" -m pip list 2>/dev/null | grep -iE '^(kazoo|pytest|pytest-timeout|objgraph) '
}

# --- sections ----------------------------------------------------------------
SETUP_OK=1
if want setup; then
    header "system packages: Apache ZooKeeper 3.8 (reference server, zkCli.sh, cli_mt)"
    run "apt packages" "$LOGDIR/apt.log" setup_apt || SETUP_OK=0
    header "Python venv ($VENV): tests/requirements.txt"
    run "python venv" "$LOGDIR/venv.log" setup_venv || SETUP_OK=0
fi

BUILD_OK=1
if want rust; then
    header "cargo build --release -p paddock"
    run "cargo build" "$LOGDIR/cargo-build.log" cargo build --release -p paddock || BUILD_OK=0
    header "cargo test --workspace --release"
    run "cargo test" "$LOGDIR/cargo-test.log" \
        limit "$LIMIT_CARGO_TEST" cargo test --workspace --release
fi

if want python; then
    header "pytest tests/python (real clients vs paddock and ZooKeeper 3.8, differential)"
    if [ "$SETUP_OK" -eq 0 ] || [ "$BUILD_OK" -eq 0 ]; then
        echo "not run: setup or build failed"
        RESULTS+=("FAIL  pytest tests/python (not run: setup/build failed)")
        FAILED=1
    else
        # shellcheck disable=SC2086
        run "pytest tests/python" "$LOGDIR/pytest.log" \
            limit "$LIMIT_PYTEST" "$PY" -m pytest tests/python -p no:cacheprovider ${PYTEST_ARGS:-}
    fi
fi

if want kazoo; then
    header "kazoo's own test-suite against paddock (scripts/kazoo-suite.sh)"
    if [ "$SETUP_OK" -eq 0 ] || [ "$BUILD_OK" -eq 0 ]; then
        echo "not run: setup or build failed"
        RESULTS+=("FAIL  kazoo suite (not run: setup/build failed)")
        FAILED=1
    else
        run "kazoo suite" "$LOGDIR/kazoo-suite.log" limit "$LIMIT_KAZOO" "$ROOT/scripts/kazoo-suite.sh" -q
    fi
fi

# --- summary -----------------------------------------------------------------
header "summary ($((SECONDS - START))s)"
printf '%s\n' "${RESULTS[@]}"
# Sum the runners' own counts: pytest "N passed, M failed, K errors" lines
# and cargo's "test result: ... N passed; M failed" lines.
totals="$(cat "$LOGDIR"/cargo-test.log "$LOGDIR"/pytest.log "$LOGDIR"/kazoo-suite.log 2>/dev/null \
    | awk '
        /^test result: / { for (i = 1; i <= NF; i++) {
              if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
        /(passed|failed|error).* in [0-9.]+s/ { for (i = 1; i <= NF; i++) {
              if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i;
              if ($(i+1) ~ /^errors?/) f += $i; if ($(i+1) ~ /^skipped/) s += $i } }
        END { printf "%d passed, %d failed, %d skipped", p, f, s }')"
if [ "$FAILED" -eq 0 ]; then
    echo "all sections passed"
else
    echo "SOME SECTIONS FAILED"
fi
echo "total: $totals"
exit "$FAILED"
