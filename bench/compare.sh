#!/usr/bin/env bash
# bench/compare.sh: paddock against Apache ZooKeeper 3.8 (Debian's package),
# standalone, on the same workloads, interleaved, with equivalent settings.
#
# For each repetition, each server in turn (the order alternates between
# repetitions) gets a fresh data dir under the output dir, a free port on
# 127.0.0.1, and the same `paddock bench` run. Measured per server:
#   - ops/s and latency p50/p99/p99.9/max per workload (`paddock bench`);
#   - CPU seconds per op: /proc/PID/stat utime+stime read by `paddock bench
#     --server-pid` at the two edges of each measured window;
#   - peak RSS: VmHWM from /proc/PID/status after the workloads;
#   - time from exec to serving: `paddock bench wait-ready` polls ruok and
#     a session's `exists /` every 1 ms, timed from bash's $EPOCHREALTIME
#     read just before the server is started;
#   - recovery: populate N znodes (100,000; and 1,000,000 with --big), stop
#     with SIGTERM, start again on that data dir: time to serving, and RSS.
# Then bench/report.py prints one table (both servers and paddock/ZK ratios)
# and `paddock bench plot` draws bench/plots/*.png.
#
# Settings: fsync on (forceSync is left at its default, yes, in both),
# tickTime 2000, snapCount default, maxClientCnxns=0 (the watch workload
# opens over 100 sessions from one address), both data dirs on the same disk.
# ZooKeeper's JVM: -Xmx2g (default G1 collector, full JIT); `--zk-heap`.
#
# Only processes this script started are signalled, by PID. Only 127.0.0.1.
# The benchmark is not a test: it does not pass or fail, and CI never runs it.
#
# TODO(ensemble): `--ensemble 3` will start three servers of each kind with
# a quorum config once paddock has ZAB; it is refused for now.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

reps=3
warmup=3
duration=5
sessions=16
depth=8
watchers=100
workloads=standard
recovery=100000
big=0
zk_heap=2g
out=""
build=1
paddock_bin=""
plots="$repo/bench/plots"

usage() {
    cat <<EOF
usage: bench/compare.sh [options]
  --reps N          repetitions of the workload runs (default $reps)
  --warmup SECS     warm-up per workload (default $warmup)
  --duration SECS   measured window per workload (default $duration)
  --sessions N      client sessions (default $sessions)
  --depth N         requests in flight per session (default $depth)
  --watchers N      sessions of the watch workload (default $watchers)
  --workloads LIST  as for paddock bench (default $workloads)
  --recovery N      znodes for the recovery test, 0 to skip (default $recovery)
  --big             also run the recovery test with 1,000,000 znodes (slow)
  --zk-heap SIZE    ZooKeeper's -Xmx (default $zk_heap)
  --out DIR         where results, logs and data dirs go (default: a new dir in /tmp)
  --plots DIR       where the PNG plots go, or "none" (default bench/plots)
  --no-build        use target/release/paddock as it is
  --paddock-bin P   use this paddock binary (server and load generator); implies --no-build
  --ensemble N      not yet: TODO once paddock has an ensemble mode
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps="$2"; shift 2 ;;
        --warmup) warmup="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --sessions) sessions="$2"; shift 2 ;;
        --depth) depth="$2"; shift 2 ;;
        --watchers) watchers="$2"; shift 2 ;;
        --workloads) workloads="$2"; shift 2 ;;
        --recovery) recovery="$2"; shift 2 ;;
        --big) big=1; shift ;;
        --zk-heap) zk_heap="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --plots) plots="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --paddock-bin) paddock_bin="$2"; build=0; shift 2 ;;
        --ensemble)
            echo "compare.sh: --ensemble is not supported yet (TODO: needs paddock's ZAB)" >&2
            exit 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

zk_jar=/usr/share/java/zookeeper.jar
slf4j_simple=/usr/share/java/slf4j-simple.jar
[ -f "$zk_jar" ] || { echo "compare.sh: $zk_jar not found (apt-get install zookeeper)" >&2; exit 1; }
command -v java >/dev/null || { echo "compare.sh: java not found" >&2; exit 1; }

if [ "$build" = 1 ]; then
    (cd "$repo" && cargo build --release -p paddock >&2)
fi
[ -z "$out" ] && out="$(mktemp -d /tmp/paddock-compare.XXXXXX)"
mkdir -p "$out"
# A private copy: others may rebuild target/ while this runs.
cp "${paddock_bin:-$repo/target/release/paddock}" "$out/paddock"
bin="$out/paddock"
events="$out/events.jsonl"
: > "$events"
echo "compare.sh: results in $out" >&2

# ---- machine --------------------------------------------------------------
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    src="$(df --output=source "$out" | tail -1)"
    echo "disk: $src ($(df --output=fstype "$out" | tail -1 | tr -d ' '), $(lsblk -dno ROTA,MODEL "$src" 2>/dev/null | awk '{print ($1=="1"?"rotational":"non-rotational") ($2?" "$2:"")}' || true))"
    echo "kernel: $(uname -r)"
    echo "java: $(java -version 2>&1 | head -1)"
    echo "zookeeper: $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo '?')"
    echo "paddock: ${PADDOCK_COMMIT:-$(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- crates || echo '+dirty')}"
} > "$out/machine.txt"
cat "$out/machine.txt" >&2

# ---- servers --------------------------------------------------------------
started_pids=()

cleanup() {
    for pid in "${started_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${started_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# write_cfg DIR PORT: the zoo.cfg both servers read.
write_cfg() {
    cat > "$1/zoo.cfg" <<EOF
tickTime=2000
dataDir=$1/data
clientPort=$2
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=4000
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=*
EOF
}

# server_cmd KIND DIR: the command line of a server.
server_cmd() {
    case "$1" in
        paddock) echo "$bin server --config $2/zoo.cfg" ;;
        zookeeper)
            local cp="$zk_jar"
            [ -f "$slf4j_simple" ] && cp="$cp:$slf4j_simple"
            echo "java -Xmx$zk_heap -Djava.awt.headless=true -Dzookeeper.admin.enableServer=false" \
                 "-Dzookeeper.log.dir=$2 -cp $cp org.apache.zookeeper.server.ZooKeeperServerMain $2/zoo.cfg" ;;
    esac
}

# start KIND DIR PORT WHAT: starts a server, waits until it serves, sets
# $pid, and logs the exec-to-serving time as event WHAT.
start() {
    local kind="$1" dir="$2" port="$3" what="$4" t0 ready
    t0=$EPOCHREALTIME
    $(server_cmd "$kind" "$dir") >> "$dir/server.log" 2>&1 < /dev/null &
    pid=$!
    started_pids+=("$pid")
    if ! ready="$("$bin" bench wait-ready --connect "127.0.0.1:$port" --since-epoch "$t0" \
                  --pid "$pid" --deadline-ms 300000)"; then
        echo "compare.sh: $kind did not start; see $dir/server.log" >&2
        tail -20 "$dir/server.log" >&2
        exit 1
    fi
    echo "{\"event\":\"$what\",\"server\":\"$kind\",\"ms\":${ready#ready_ms=}}" >> "$events"
    echo "compare.sh: $kind $what: ${ready#ready_ms=} ms (pid $pid)" >&2
}

# stop PID: SIGTERM, then SIGKILL after 60 s; PID is our own child.
stop() {
    local p="$1" i
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 600); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# mem KIND WHAT PID: logs VmRSS and VmHWM (KiB).
mem() {
    local rss hwm
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$3/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$3/status")
    echo "{\"event\":\"$2\",\"server\":\"$1\",\"rss_kib\":$rss,\"hwm_kib\":$hwm}" >> "$events"
}

bench() {
    "$bin" bench --connect "127.0.0.1:$1" --server-pid "$2" --label "$3" --json "${@:4}"
}

# ---- workloads, interleaved -------------------------------------------------
for rep in $(seq "$reps"); do
    if [ $((rep % 2)) = 1 ]; then order="zookeeper paddock"; else order="paddock zookeeper"; fi
    for kind in $order; do
        dir="$out/rep$rep-$kind"
        mkdir -p "$dir/data"
        port=$(free_port)
        write_cfg "$dir" "$port"
        start "$kind" "$dir" "$port" startup
        echo "compare.sh: rep $rep/$reps: $kind" >&2
        bench "$port" "$pid" "$kind" --workloads "$workloads" --sessions "$sessions" \
            --depth "$depth" --watchers "$watchers" --warmup "$warmup" --duration "$duration" \
            > "$out/rep$rep-$kind.json" 2>> "$dir/bench.log"
        mem "$kind" peak "$pid"
        stop "$pid"
        rm -rf "$dir/data"
    done
done

# ---- recovery ---------------------------------------------------------------
sizes=()
[ "$recovery" -gt 0 ] && sizes+=("$recovery")
[ "$big" = 1 ] && sizes+=(1000000)
for n in "${sizes[@]}"; do
    for kind in zookeeper paddock; do
        dir="$out/recovery$n-$kind"
        mkdir -p "$dir/data"
        port=$(free_port)
        write_cfg "$dir" "$port"
        start "$kind" "$dir" "$port" "startup"
        echo "compare.sh: populating $n znodes on $kind" >&2
        bench "$port" "$pid" "$kind" --workloads populate --count "$n" --sessions "$sessions" \
            --depth "$depth" > "$out/populate$n-$kind.json" 2>> "$dir/bench.log"
        mem "$kind" "populated$n" "$pid"
        stop "$pid"
        for again in 1 2; do
            start "$kind" "$dir" "$port" "recovery$n"
            mem "$kind" "recovered$n" "$pid"
            stop "$pid"
        done
        du -sk "$dir/data" | awk -v k="$kind" -v n="$n" \
            '{print "{\"event\":\"disk" n "\",\"server\":\"" k "\",\"kib\":" $1 "}"}' >> "$events"
        rm -rf "$dir/data"
    done
done

# ---- report -----------------------------------------------------------------
python3 "$here/report.py" "$out" | tee "$out/summary.md"
if [ "$plots" != none ]; then
    mkdir -p "$plots"
    "$bin" bench plot --input "$out/plot.tsv" --out "$plots" || echo "compare.sh: no plots" >&2
fi
