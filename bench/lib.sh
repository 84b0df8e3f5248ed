# Helpers shared by the bench scripts (sourced; the caller defines `die`, `TMP`, where the
# started processes write NAME.log, `PIN` (1: pin with taskset) and the array `PIDS` of the
# processes its clean-up stops).

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port on 127.0.0.1 that nothing listens on.
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# wait_port PORT PID NAME [SECONDS]: until PORT accepts connections (default 20 s), or die when
# PID exits first or time runs out.
wait_port() {
    local i tries=$((${4:-20} * 10))
    for i in $(seq 1 "$tries"); do
        port_in_use "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (log: $TMP/$3.log)"
        sleep 0.1
    done
    die "$3 did not listen on port $1 within ${4:-20} s"
}

# stop_started SCRIPT: for the caller's EXIT trap: stop every process in PIDS (TERM, 5 s, then
# KILL; only the pids started here) and remove TMP, or keep it with KEEP_TMP=1.
stop_started() {
    local p i left
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for i in $(seq 1 50); do
        left=0
        for p in "${PIDS[@]}"; do
            kill -0 "$p" 2>/dev/null && left=1
        done
        ((left == 0)) && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        echo "$1: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

# release_binaries [CERTGATE]: build certgate and the benchmark examples (release) unless
# NO_BUILD=1, then set BIN, CERTGATE (the path given, else the build's), LOADGEN and UPSTREAM;
# die when one is missing. Needs the caller's `log` and ROOT.
release_binaries() {
    if [[ ${NO_BUILD:-0} == 1 ]]; then
        log "NO_BUILD=1: using the existing release binaries"
    else
        log "building certgate and the benchmark examples (release)"
        (cd "$ROOT" && cargo build --release --bin certgate --examples) >&2 ||
            die "cargo build failed"
    fi
    BIN="$ROOT/target/release"
    CERTGATE=${1:-$BIN/certgate}
    LOADGEN="$BIN/examples/bench_loadgen"
    UPSTREAM="$BIN/examples/bench_upstream"
    local b
    for b in "$CERTGATE" "$LOADGEN" "$UPSTREAM"; do
        [[ -x $b ]] || die "$b is missing (run without NO_BUILD=1)"
    done
}

# expect_exe PID PATH NAME: the pid really runs PATH (the execs of start_bg have happened).
expect_exe() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null || true)
    [[ $exe == "$(readlink -f "$2")" ]] || die "$3: pid $1 runs '${exe:-?}', expected $2"
}

# pin CPU CMD...: run CMD pinned to CPU (unless PIN is 0: no taskset).
pin() {
    local cpu=$1
    shift
    if [[ $PIN == 1 ]]; then
        taskset -c "$cpu" "$@"
    else
        "$@"
    fi
}

# start_bg CPU LOGFILE CMD...: start CMD pinned to CPU in the background; BG_PID is CMD's own
# pid (the subshell execs taskset, which execs CMD), so that /proc readings and kill reach the
# measured process itself. The pid is added to PIDS.
start_bg() {
    local cpu=$1 logf=$2
    shift 2
    if [[ $PIN == 1 ]]; then
        (exec taskset -c "$cpu" "$@") >"$logf" 2>&1 &
    else
        (exec "$@") >"$logf" 2>&1 &
    fi
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# ---------------------------------------------------------------------------------------------
# /proc readings (bench/run.sh, bench/scale.sh)

# proc_tree PID: PID and all its descendants.
proc_tree() {
    local pid=$1 c
    echo "$pid"
    # shellcheck disable=SC2013 # the children files hold space-separated pids
    for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
        proc_tree "$c"
    done
}
# cpu_ticks PID: utime+stime (clock ticks) summed over the process tree (per-process values
# cover all threads).
cpu_ticks() {
    local total=0 p s
    for p in $(proc_tree "$1"); do
        s=$(cat /proc/"$p"/stat 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        # after the comm field: $1 is field 3 (state), so utime (14) is $12, stime (15) is $13.
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
# rss_kb PID: VmRSS (kB) summed over the process tree.
rss_kb() {
    local total=0 p v
    for p in $(proc_tree "$1"); do
        v=$(awk '/^VmRSS:/ { print $2 }' /proc/"$p"/status 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
