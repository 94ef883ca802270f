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
#   - recovery: populate N znodes (100,000; and 1,000,000 with --big), kill
#     it with SIGKILL and start again on that data dir (crash recovery: the
#     newest snapshot and the log after it), then twice stop it with SIGTERM
#     and start again (a clean restart; paddock snapshots on SIGTERM,
#     ZooKeeper replays its log either way): time to serving, and RSS.
# Then bench/report.py prints one table (both servers and paddock/ZK ratios)
# and `paddock bench plot` draws bench/plots/*.png.
#
# Same load (`--same-load FRACTION`, default 0.5; 0: off): the closed-loop
# runs above measure each server at its own throughput, so a faster server
# is measured under more load. After them, per workload, R = FRACTION x the
# lower of the servers' median closed-loop ops/s (OUT/sameload.json), and a
# second pass runs the same repetitions (same order, fresh servers and data
# dirs, same warm-up and window, the same CPU and RSS readings) with
# `paddock bench --rate create=R1,delete=R2,...`: both servers are offered
# the same ops/s, open-loop, latency timed from each request's scheduled
# time. Its files are OUT/sameload-repN-KIND.json (dirs sameload-repN-KIND/,
# events named sameload_*); report.py puts them in a second section.
#
# Settings: fsync on (forceSync is left at its default, yes, in both),
# tickTime 2000, snapCount default, maxClientCnxns=0 (the watch workload
# opens over 100 sessions from one address), both data dirs on the same disk.
# ZooKeeper's JVM: -Xmx2g (default G1 collector, full JIT); `--zk-heap`.
#
# Only processes this script started are signalled, by PID. Only 127.0.0.1.
# The benchmark is not a test: it does not pass or fail, and CI never runs it.
#
# Ensemble mode (`--ensemble 3`): per repetition and server kind, three
# servers on 127.0.0.1, each with a fresh data dir holding `myid` (1, 2, 3)
# and its own zoo.cfg: the standalone settings plus initLimit=10,
# syncLimit=5 and server.N=127.0.0.1:QUORUM:ELECTION lines (all ports free
# ones). ZooKeeper runs QuorumPeerMain (same JVM flags), paddock the same
# `paddock server --config zoo.cfg`. The ensemble serves when every server
# answers `srvr` with Mode leader or follower, exactly one leader, and a
# session on each (`paddock bench wait-ready` with the three addresses;
# `--ready-deadline`, after which the log tails are printed and the script
# fails); that time from exec of the first server is the "startup" event.
# The load generator gets the three client ports (session i on port
# i mod 3; the watch workload's writer and the setup session on the first)
# and the three PIDs: server CPU is utime+stime summed over the three, RSS
# and VmHWM are summed over the three (a sum of each one's peak). The leader
# is recorded before and after the workloads (a change is reported). The
# recovery measurement populates N znodes through the ensemble, then kills
# and restarts all of it on its data dirs, then stops (SIGTERM) and restarts
# it twice (RSS and sizes summed).
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
plots_set=0
ensemble=0
only=""
ready_deadline=""
same_load=0.5

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
  --ensemble N      N-server ensembles (3) of each kind instead of standalone servers;
                    recovery runs restart the whole ensemble; default plots dir bench/plots/ensembleN
  --only KIND       run only zookeeper or only paddock (plots default to OUT/plots)
  --ready-deadline SECS  how long a server (ensemble) may take to serve
                    (default 300 standalone, 120 ensemble)
  --same-load F     after the closed-loop runs, run every workload again on both kinds at
                    F x the slower kind's median closed-loop ops/s for it (open loop,
                    paddock bench --rate), same repetitions and order; 0 turns it off
                    (default $same_load)
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
        --plots) plots="$2"; plots_set=1; shift 2 ;;
        --no-build) build=0; shift ;;
        --paddock-bin) paddock_bin="$2"; build=0; shift 2 ;;
        --ensemble) ensemble="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --ready-deadline) ready_deadline="$2"; shift 2 ;;
        --same-load) same_load="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

case "$ensemble" in
    0) ;;
    ''|*[!0-9]*|1|2) echo "compare.sh: --ensemble needs a number of servers, at least 3" >&2; exit 2 ;;
esac
case "$only" in
    ""|zookeeper|paddock) ;;
    *) echo "compare.sh: --only takes zookeeper or paddock" >&2; exit 2 ;;
esac
case "$ready_deadline" in
    "") if [ "$ensemble" = 0 ]; then ready_deadline=300; else ready_deadline=120; fi ;;
    *[!0-9]*) echo "compare.sh: --ready-deadline takes whole seconds" >&2; exit 2 ;;
esac
if ! [[ "$same_load" =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)$ ]]; then
    echo "compare.sh: --same-load takes a fraction such as 0.5 (0: off)" >&2; exit 2
fi
# kinds: the server kinds this run measures.
kinds="zookeeper paddock"
[ -n "$only" ] && kinds="$only"

zk_jar=/usr/share/java/zookeeper.jar
slf4j_simple=/usr/share/java/slf4j-simple.jar
[ -f "$zk_jar" ] || { echo "compare.sh: $zk_jar not found (apt-get install zookeeper)" >&2; exit 1; }
command -v java >/dev/null || { echo "compare.sh: java not found" >&2; exit 1; }

if [ "$build" = 1 ]; then
    (cd "$repo" && cargo build --release -p paddock >&2)
fi
[ -z "$out" ] && out="$(mktemp -d /tmp/paddock-compare.XXXXXX)"
mkdir -p "$out"
if [ "$plots_set" = 0 ]; then
    if [ -n "$only" ]; then plots="$out/plots"
    elif [ "$ensemble" != 0 ]; then plots="$repo/bench/plots/ensemble$ensemble"; fi
fi
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
    if [ "$ensemble" != 0 ]; then
        echo "mode: $ensemble-node ensemble per server kind, all on 127.0.0.1"
    fi
} > "$out/machine.txt"
cat "$out/machine.txt" >&2
if [ "$ensemble" != 0 ]; then
    echo "{\"ensemble\":$ensemble,\"kinds\":\"$kinds\"}" > "$out/mode.json"
fi

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

# forget PID: drops a stopped (and reaped) PID from started_pids, so that
# the exit trap never signals a PID the system may have reused.
forget() {
    local p keep=()
    for p in "${started_pids[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    started_pids=("${keep[@]}")
}

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

# server_cmd KIND DIR: the command line of a server (ZooKeeper's quorum
# main class in ensemble mode).
server_cmd() {
    case "$1" in
        paddock) echo "$bin server --config $2/zoo.cfg" ;;
        zookeeper)
            local cp="$zk_jar" main=org.apache.zookeeper.server.ZooKeeperServerMain
            [ -f "$slf4j_simple" ] && cp="$cp:$slf4j_simple"
            [ "$ensemble" != 0 ] && main=org.apache.zookeeper.server.quorum.QuorumPeerMain
            echo "java -Xmx$zk_heap -Djava.awt.headless=true -Dzookeeper.admin.enableServer=false" \
                 "-Dzookeeper.log.dir=$2 -cp $cp $main $2/zoo.cfg" ;;
    esac
}

# start KIND DIR PORT WHAT: starts a server, waits until it serves, sets
# $pid, and logs the exec-to-serving time as event WHAT.
# start_fresh KIND DIR EVENT: a standalone KIND server on a new data dir
# under DIR and a free port (sets $port, and $pid as start does).
start_fresh() {
    mkdir -p "$2/data"
    port=$(free_port)
    write_cfg "$2" "$port"
    start "$1" "$2" "$port" "$3"
}

start() {
    local kind="$1" dir="$2" port="$3" what="$4" t0 ready
    t0=$EPOCHREALTIME
    $(server_cmd "$kind" "$dir") >> "$dir/server.log" 2>&1 < /dev/null &
    pid=$!
    started_pids+=("$pid")
    if ! ready="$("$bin" bench wait-ready --connect "127.0.0.1:$port" --since-epoch "$t0" \
                  --pid "$pid" --deadline-ms $((ready_deadline * 1000)))"; then
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
    forget "$p"
}

# crash PID: SIGKILL; PID is our own child.
crash() {
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
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

# ---- ensembles ------------------------------------------------------------
# ens_ports, ens_quorum, ens_election: the ensemble's ports (index 0 is
# server 1); ens_pids: its PIDs; ens_dir: its dir (node1, node2, ...).
ens_ports=()
ens_quorum=()
ens_election=()
ens_pids=()

# free_ports N: N distinct free ports on 127.0.0.1 (all bound at once).
free_ports() {
    python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# write_ensemble_cfgs DIR: zoo.cfg and data/myid of every node under DIR.
write_ensemble_cfgs() {
    local i j n all=()
    read -r -a all <<< "$(free_ports $((3 * ensemble)))"
    ens_ports=("${all[@]:0:ensemble}")
    ens_quorum=("${all[@]:ensemble:ensemble}")
    ens_election=("${all[@]:$((2 * ensemble)):ensemble}")
    for i in $(seq "$ensemble"); do
        n="$1/node$i"
        mkdir -p "$n/data"
        echo "$i" > "$n/data/myid"
        {
            echo "tickTime=2000"
            echo "initLimit=10"
            echo "syncLimit=5"
            echo "dataDir=$n/data"
            echo "clientPort=${ens_ports[i - 1]}"
            echo "clientPortAddress=127.0.0.1"
            echo "maxClientCnxns=0"
            echo "minSessionTimeout=4000"
            echo "maxSessionTimeout=60000"
            echo "admin.enableServer=false"
            echo "4lw.commands.whitelist=*"
            for j in $(seq "$ensemble"); do
                echo "server.$j=127.0.0.1:${ens_quorum[j - 1]}:${ens_election[j - 1]}"
            done
        } > "$n/zoo.cfg"
    done
}

# child CMD...: runs CMD as our child and waits for it, so that a signal
# to this script is handled at once (the exit trap then stops CMD too).
child() {
    local p rc=0
    "$@" &
    p=$!
    started_pids+=("$p")
    wait "$p" || rc=$?
    forget "$p"
    return "$rc"
}

# alive PID: whether PID runs (exists and is not a zombie).
alive() {
    local st
    st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

ens_addrs() {
    local p list=()
    for p in "${ens_ports[@]}"; do list+=("127.0.0.1:$p"); done
    (IFS=,; echo "${list[*]}")
}

ens_pid_list() {
    (IFS=,; echo "${ens_pids[*]}")
}

# log_tails DIR: the end of every node's log, on stderr.
log_tails() {
    local i
    for i in $(seq "$ensemble"); do
        echo "---- $1/node$i/server.log (last 20 lines)" >&2
        tail -20 "$1/node$i/server.log" >&2 || true
    done
}

# start_ensemble KIND DIR: starts every node, waits until the ensemble
# serves (one leader, the rest followers, a session on each), logs the time
# from exec of the first node as event "startup", sets ens_pids.
start_ensemble() {
    local kind="$1" dir="$2" ev="${3:-startup}" t0 ready i
    ens_pids=()
    t0=$EPOCHREALTIME
    for i in $(seq "$ensemble"); do
        $(server_cmd "$kind" "$dir/node$i") >> "$dir/node$i/server.log" 2>&1 < /dev/null &
        ens_pids+=("$!")
        started_pids+=("$!")
    done
    if ! child "$bin" bench wait-ready --connect "$(ens_addrs)" --since-epoch "$t0" \
            --pid "$(ens_pid_list)" --deadline-ms $((ready_deadline * 1000)) > "$dir/ready.txt"; then
        echo "compare.sh: the $kind ensemble did not come up within ${ready_deadline} s" >&2
        log_tails "$dir"
        exit 1
    fi
    ready=$(cat "$dir/ready.txt")
    echo "{\"event\":\"$ev\",\"server\":\"$kind\",\"nodes\":$ensemble,\"ms\":${ready#ready_ms=}}" >> "$events"
    echo "compare.sh: $kind ensemble serving ${ready#ready_ms=} ms after exec (pids ${ens_pids[*]}; $ev)" >&2
}

# stop_ensemble: SIGTERM to every node at once, SIGKILL to any still there
# after 60 s; all are our own children.
stop_ensemble() {
    local p i left
    for p in "${ens_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for i in $(seq 600); do
        left=0
        for p in "${ens_pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    for p in "${ens_pids[@]}"; do
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
        forget "$p"
    done
    ens_pids=()
}

# crash_ensemble: SIGKILL to every node at once; all are our own children.
crash_ensemble() {
    local p
    for p in "${ens_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${ens_pids[@]}"; do
        wait "$p" 2>/dev/null || true
        forget "$p"
    done
    ens_pids=()
}

# srvr_all DIR TAG: every node's `srvr` answer into DIR/nodeI/srvr-TAG.txt;
# prints the modes and packets received, one word pair per node.
srvr_all() {
    local i
    for i in $(seq "$ensemble"); do
        python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"srvr")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode(errors="replace"))' "${ens_ports[i - 1]}" \
            > "$1/node$i/srvr-$2.txt" 2>/dev/null || true
    done
}

# leader DIR TAG: the id of the node whose srvr-TAG.txt says leader (0: none).
leader() {
    local i
    for i in $(seq "$ensemble"); do
        if grep -q '^Mode: leader' "$1/node$i/srvr-$2.txt" 2>/dev/null; then echo "$i"; return; fi
    done
    echo 0
}

# received DIR TAG: "Received:" per node from srvr-TAG.txt, comma-separated.
received() {
    local i list=()
    for i in $(seq "$ensemble"); do
        list+=("$(awk '/^Received:/ {print $2; exit}' "$1/node$i/srvr-$2.txt" 2>/dev/null)")
    done
    (IFS=,; echo "${list[*]:-}")
}

# mem_ensemble KIND WHAT: logs VmRSS and VmHWM (KiB) summed over the nodes.
mem_ensemble() {
    local p rss=0 hwm=0 r h each=()
    for p in "${ens_pids[@]}"; do
        r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status")
        rss=$((rss + r)); hwm=$((hwm + h)); each+=("$h")
    done
    echo "{\"event\":\"$2\",\"server\":\"$1\",\"nodes\":$ensemble,\"rss_kib\":$rss,\"hwm_kib\":$hwm,\"hwm_kib_each\":[$(IFS=,; echo "${each[*]}")]}" >> "$events"
}

# run_ensemble REP KIND [PASS [BENCH_ARGS...]]: one repetition of the
# workloads on a KIND ensemble; PASS (e.g. "sameload") prefixes its files
# (PASS-repN-KIND.json) and events (PASS_startup, ...); BENCH_ARGS go to
# paddock bench after the common ones.
run_ensemble() {
    local rep="$1" kind="$2" pass="${3:-}" f="" ev="" before after i p
    shift $(($# < 3 ? $# : 3))
    [ -n "$pass" ] && f="$pass-" && ev="${pass}_"
    local dir="$out/${f}rep$rep-$kind"
    mkdir -p "$dir"
    write_ensemble_cfgs "$dir"
    start_ensemble "$kind" "$dir" "${ev}startup"
    srvr_all "$dir" before
    before=$(leader "$dir" before)
    echo "compare.sh: rep $rep/$reps: $kind ensemble ($(ens_addrs); leader: server $before)" >&2
    if ! child "$bin" bench --connect "$(ens_addrs)" --server-pid "$(ens_pid_list)" --label "$kind" \
            --json --workloads "$workloads" --sessions "$sessions" --depth "$depth" \
            --watchers "$watchers" --warmup "$warmup" --duration "$duration" "$@" \
            > "$out/${f}rep$rep-$kind.json" 2>> "$dir/bench.log"; then
        echo "compare.sh: paddock bench failed on the $kind ensemble; see $dir/bench.log" >&2
        tail -5 "$dir/bench.log" >&2
        log_tails "$dir"
        exit 1
    fi
    for p in "${ens_pids[@]}"; do
        if ! alive "$p"; then
            echo "compare.sh: a $kind server (pid $p) exited during the workloads" >&2
            log_tails "$dir"
            exit 1
        fi
    done
    mem_ensemble "$kind" "${ev}peak"
    srvr_all "$dir" after
    after=$(leader "$dir" after)
    echo "{\"event\":\"${ev}leader\",\"server\":\"$kind\",\"rep\":$rep,\"before\":$before,\"after\":$after,\"received\":[$(received "$dir" after)]}" >> "$events"
    echo "compare.sh: $kind: leader before/after the workloads: server $before/$after; packets received per server: $(received "$dir" after)" >&2
    stop_ensemble
    for i in $(seq "$ensemble"); do rm -rf "$dir/node$i/data"; done
}

# run_standalone REP KIND [PASS [BENCH_ARGS...]]: one repetition of the
# workloads on a KIND server; PASS and BENCH_ARGS as for run_ensemble.
run_standalone() {
    local rep="$1" kind="$2" pass="${3:-}" f="" ev="" dir port
    shift $(($# < 3 ? $# : 3))
    [ -n "$pass" ] && f="$pass-" && ev="${pass}_"
    dir="$out/${f}rep$rep-$kind"
    start_fresh "$kind" "$dir" "${ev}startup"
    echo "compare.sh: rep $rep/$reps: $kind${pass:+ ($pass)}" >&2
    bench "$port" "$pid" "$kind" --workloads "$workloads" --sessions "$sessions" \
        --depth "$depth" --watchers "$watchers" --warmup "$warmup" --duration "$duration" "$@" \
        > "$out/${f}rep$rep-$kind.json" 2>> "$dir/bench.log"
    mem "$kind" "${ev}peak" "$pid"
    stop "$pid"
    rm -rf "$dir/data"
}

# run_pass [PASS [BENCH_ARGS...]]: every repetition, each kind in turn, the
# order alternating between repetitions.
run_pass() {
    local rep kind order
    for rep in $(seq "$reps"); do
        if [ $((rep % 2)) = 1 ]; then order="zookeeper paddock"; else order="paddock zookeeper"; fi
        for kind in $order; do
            case " $kinds " in *" $kind "*) ;; *) continue ;; esac
            if [ "$ensemble" != 0 ]; then
                run_ensemble "$rep" "$kind" "$@"
            else
                run_standalone "$rep" "$kind" "$@"
            fi
        done
    done
}

# same_load_rates: from the closed-loop results, per workload FRACTION x the
# lower of the kinds' median ops/s; writes OUT/sameload.json and prints the
# workloads and the --rate spec (two words).
same_load_rates() {
    python3 - "$out" "$same_load" <<'PY'
import json, statistics, sys
from pathlib import Path

out, fraction = Path(sys.argv[1]), float(sys.argv[2])
order, ops = [], {}
for f in sorted(out.glob("rep*-*.json")):
    doc = json.loads(f.read_text())
    for r in doc["results"]:
        if r["workload"] not in order:
            order.append(r["workload"])
        ops.setdefault(r["workload"], {}).setdefault(doc["label"], []).append(r["ops_per_s"])
rates, basis = {}, {}
for w in order:
    basis[w] = {kind: statistics.median(v) for kind, v in ops[w].items()}
    rate = round(fraction * min(basis[w].values()))
    if rate >= 1:
        rates[w] = rate
    else:
        print(f"compare.sh: {w}: no closed-loop throughput to offer {fraction} of; "
              "left out of the same-load pass", file=sys.stderr)
(out / "sameload.json").write_text(json.dumps(
    {"fraction": fraction, "rates": rates, "median_ops_per_s": basis}) + "\n")
print(",".join(rates), ",".join(f"{w}={r}" for w, r in rates.items()))
PY
}

# ---- workloads, interleaved -------------------------------------------------
run_pass

# ---- the same load on both --------------------------------------------------
if awk -v f="$same_load" 'BEGIN { exit !(f + 0 > 0) }'; then
    same="$(same_load_rates)"
    read -r same_workloads same_rates <<< "$same"
    if [ -n "$same_rates" ]; then
        echo "compare.sh: same load ($same_load of the slower server's throughput): $same_rates" >&2
        closed_workloads="$workloads"
        workloads="$same_workloads"
        run_pass sameload --rate "$same_rates"
        workloads="$closed_workloads"
    fi
fi

# ---- recovery ---------------------------------------------------------------
sizes=()
[ "$recovery" -gt 0 ] && sizes+=("$recovery")
[ "$big" = 1 ] && sizes+=(1000000)
# In ensemble mode: populate N znodes through the ensemble (sessions spread
# over the servers), RSS summed over the servers (the same data on both
# kinds), then stop all and start all on those data dirs: time until the
# ensemble serves again, RSS after, data dirs' size summed.
if [ "$ensemble" != 0 ]; then
    for n in "${sizes[@]}"; do
        for kind in $kinds; do
            dir="$out/recovery$n-$kind"
            mkdir -p "$dir"
            write_ensemble_cfgs "$dir"
            start_ensemble "$kind" "$dir" startup
            echo "compare.sh: populating $n znodes on the $kind ensemble" >&2
            child "$bin" bench --connect "$(ens_addrs)" --server-pid "$(ens_pid_list)" --label "$kind" \
                --json --workloads populate --count "$n" --sessions "$sessions" --depth "$depth" \
                > "$out/populate$n-$kind.json" 2>> "$dir/bench.log"
            mem_ensemble "$kind" "populated$n"
            crash_ensemble
            start_ensemble "$kind" "$dir" "crash$n"
            stop_ensemble
            for again in 1 2; do
                start_ensemble "$kind" "$dir" "recovery$n"
                mem_ensemble "$kind" "recovered$n"
                stop_ensemble
            done
            du -sk "$dir" | awk -v k="$kind" -v n="$n" \
                '{print "{\"event\":\"disk" n "\",\"server\":\"" k "\",\"kib\":" $1 "}"}' >> "$events"
            for i in $(seq "$ensemble"); do rm -rf "$dir/node$i/data"; done
        done
    done
    sizes=()
fi
for n in "${sizes[@]}"; do
    for kind in $kinds; do
        dir="$out/recovery$n-$kind"
        start_fresh "$kind" "$dir" "startup"
        echo "compare.sh: populating $n znodes on $kind" >&2
        bench "$port" "$pid" "$kind" --workloads populate --count "$n" --sessions "$sessions" \
            --depth "$depth" > "$out/populate$n-$kind.json" 2>> "$dir/bench.log"
        mem "$kind" "populated$n" "$pid"
        crash "$pid"
        start "$kind" "$dir" "$port" "crash$n"
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
    plot_mode=()
    [ "$ensemble" != 0 ] && plot_mode=(--mode "$ensemble-node ensembles")
    "$bin" bench plot --input "$out/plot.tsv" --out "$plots" "${plot_mode[@]}" \
        || echo "compare.sh: no plots" >&2
fi
