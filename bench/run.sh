#!/usr/bin/env bash
# certgate vs nginx: one run, same machine, same certificates, same upstream, same load.
#
#   bench/run.sh                 # full run (DURATION seconds per measurement, default 10; 3 rounds)
#   DURATION=30 bench/run.sh     # longer measurements
#   ROUNDS=5 bench/run.sh        # more interleaved rounds (1..20)
#   SMOKE=1 bench/run.sh         # ~1 s per measurement, 1 round, 50 idle connections: checks that it works
#
# The keep-alive and handshake tests run in ROUNDS rounds; within each round the proxies take
# turns (round 1: certgate first, round 2: nginx first, ...) and the table shows, per proxy and
# metric, the median over the rounds. The idle-memory test runs once per proxy.
#
# Exit status: 0 when every measurement completed without errors, 1 when some request or
# handshake failed (or a proxy died), 2 on a set-up problem. Performance targets are reported,
# not enforced (set STRICT=1 to also exit 1 when a target is missed).
# See bench/README.md for what is measured and how to read the table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-0}
STRICT=${STRICT:-0}
if [[ $SMOKE == 1 ]]; then
    DURATION=${DURATION:-1}
    ROUNDS=${ROUNDS:-1}
    IDLE_CONNS=${IDLE_CONNS:-50}
    IDLE_HOLD=${IDLE_HOLD:-2}
    WARMUP=0
else
    DURATION=${DURATION:-10}
    ROUNDS=${ROUNDS:-5}
    IDLE_CONNS=${IDLE_CONNS:-1000}
    IDLE_HOLD=${IDLE_HOLD:-5}
    WARMUP=${WARMUP:-2}
fi
KA_CONNS=${KA_CONNS:-32}
HS_CONCURRENCY=${HS_CONCURRENCY:-16}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KEEP_TMP=${KEEP_TMP:-0}

die() { echo "run.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DURATION must be a number of seconds"
awk -v d="$DURATION" 'BEGIN { exit !(d > 0 && d <= 600) }' || die "DURATION must be in (0, 600]"
[[ $IDLE_CONNS =~ ^[0-9]+$ ]] && ((IDLE_CONNS >= 1 && IDLE_CONNS <= 10000)) ||
    die "IDLE_CONNS must be in 1..10000"
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((10#$ROUNDS >= 1 && 10#$ROUNDS <= 20)) ||
    die "ROUNDS must be an integer in 1..20"
ROUNDS=$((10#$ROUNDS))

# Rough run time: ROUNDS x 3 tests x 2 proxies x DURATION, plus warm-up, the idle test (hold +
# settle, per proxy) and a few seconds of set-up. The build is not included.
EXPECTED_S=$(awk -v r="$ROUNDS" -v d="$DURATION" -v w="$WARMUP" -v h="$IDLE_HOLD" \
    'BEGIN { printf "%.0f", r * 3 * 2 * d + 2 * w + 2 * (h + 2) + 5 }')
log "expected run time: about ${EXPECTED_S} s ($ROUNDS round(s) x 3 tests x 2 proxies x ${DURATION} s, plus warm-up, idle test and set-up; build not included)"

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)

# ---------------------------------------------------------------------------------------------
# Processes and clean-up

TMP=$(mktemp -d "${TMPDIR:-/tmp}/certgate-bench.XXXXXX")
PIDS=()
cleanup() {
    local rc=$?
    local p i
    trap - INT TERM
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    # Give them 5 s to exit, then SIGKILL whatever is left (only the pids started here).
    for i in $(seq 1 50); do
        local left=0
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
    if [[ $KEEP_TMP == 1 ]]; then
        echo "run.sh: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# pin CPU CMD... : run CMD pinned to CPU (if taskset exists)
PIN=1
command -v taskset >/dev/null || { echo "run.sh: taskset not found, not pinning" >&2; PIN=0; }
if ((NCPU < 2)); then
    echo "run.sh: only $NCPU CPU: proxy and load share CPU 0 (numbers are not meaningful)" >&2
    PROXY_CPU=0
    LOAD_CPU=0
fi
pin() {
    local cpu=$1
    shift
    if [[ $PIN == 1 ]]; then
        taskset -c "$cpu" "$@"
    else
        "$@"
    fi
}
# start_bg CPU LOGFILE CMD...: start CMD pinned to CPU in the background; BG_PID is CMD's own pid
# (the subshell execs taskset, which execs CMD), so that /proc readings and kill reach the
# measured process itself.
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
# expect_exe PID PATH NAME: the pid really runs PATH (the execs above have happened).
expect_exe() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null || true)
    [[ $exe == "$(readlink -f "$2")" ]] || die "$3: pid $1 runs '${exe:-?}', expected $2"
}

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# ---------------------------------------------------------------------------------------------
# /proc readings

# PID and all its descendants.
proc_tree() {
    local pid=$1 c
    echo "$pid"
    for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
        proc_tree "$c"
    done
}
# utime+stime (clock ticks) summed over the process tree (per-process values cover all threads).
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
# VmRSS (kB) summed over the process tree.
rss_kb() {
    local total=0 p v
    for p in $(proc_tree "$1"); do
        v=$(awk '/^VmRSS:/ { print $2 }' /proc/"$p"/status 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
alive() { kill -0 "$1" 2>/dev/null || { echo "run.sh: $2 (pid $1) is gone; see $TMP/$2.log" >&2; exit 1; }; }

# field KEY FILE: value of KEY=... in the RESULT line of FILE
field() { grep '^RESULT ' "$2" | tail -n1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# ---------------------------------------------------------------------------------------------
# Build, nginx, PKI

if [[ ${NO_BUILD:-0} == 1 ]]; then
    log "NO_BUILD=1: using the existing release binaries"
else
    log "building certgate and the benchmark examples (release)"
    (cd "$ROOT" && cargo build --release --bin certgate --examples) >&2 ||
        die "cargo build failed"
fi
BIN="$ROOT/target/release"
CERTGATE="$BIN/certgate"
LOADGEN="$BIN/examples/bench_loadgen"
UPSTREAM="$BIN/examples/bench_upstream"
for b in "$CERTGATE" "$LOADGEN" "$UPSTREAM"; do
    [[ -x $b ]] || die "$b is missing (run without NO_BUILD=1)"
done

NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
if [[ -z $NGINX ]]; then
    log "nginx not found: installing it from Debian packages"
    SUDO=
    [[ $(id -u) == 0 ]] || SUDO=sudo
    $SUDO apt-get update >&2 || die "apt-get update failed"
    $SUDO apt-get install -y nginx-light >&2 || $SUDO apt-get install -y nginx >&2 ||
        die "cannot install nginx"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')

# Enough file descriptors for the idle test (loadgen and both proxies inherit this).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
(($(ulimit -n) > IDLE_CONNS * 2 + 100)) || die "ulimit -n $(ulimit -n) is too low for $IDLE_CONNS idle connections"

PKI="$TMP/pki"
"$LOADGEN" pki --dir "$PKI" >/dev/null
SUBJECT="CN=bench-client,O=Bench Inc,C=US"

# ---------------------------------------------------------------------------------------------
# Start upstream, certgate, nginx

UP_PORT=$(free_port)
CG_PORT=$(free_port)
NG_PORT=$(free_port)

start_bg "$LOAD_CPU" "$TMP/upstream.log" "$UPSTREAM" --listen "127.0.0.1:$UP_PORT"
UP_PID=$BG_PID
wait_port "$UP_PORT" "$UP_PID" upstream
expect_exe "$UP_PID" "$UPSTREAM" upstream

# certgate logs one access line per request at info; nginx runs with access_log off, so
# certgate runs with RUST_LOG=warn to compare the proxying work, not the logging.
start_bg "$PROXY_CPU" "$TMP/certgate.log" env RUST_LOG=warn "$CERTGATE" run \
    --listen "127.0.0.1:$CG_PORT" \
    --admin-listen off \
    --server-cert "$PKI/server.pem" \
    --server-key "$PKI/server.key" \
    --trust "$PKI/ca.pem" \
    --upstream "http://127.0.0.1:$UP_PORT" \
    --route b=/ \
    --allow "b=subject:$SUBJECT"
CG_PID=$BG_PID
wait_port "$CG_PORT" "$CG_PID" certgate
expect_exe "$CG_PID" "$CERTGATE" certgate

mkdir -p "$TMP/nginx"
sed -e "s|@TMP@|$TMP/nginx|g" -e "s|@PKI@|$PKI|g" \
    -e "s|@UPSTREAM_PORT@|$UP_PORT|g" -e "s|@NGINX_PORT@|$NG_PORT|g" \
    "$ROOT/bench/nginx.conf.tmpl" >"$TMP/nginx/nginx.conf"
"$NGINX" -t -q -p "$TMP/nginx" -e "$TMP/nginx/nginx-error.log" -c "$TMP/nginx/nginx.conf" \
    >"$TMP/nginx.log" 2>&1 || { cat "$TMP/nginx.log" >&2; die "nginx -t failed"; }
start_bg "$PROXY_CPU" "$TMP/nginx.log" "$NGINX" -p "$TMP/nginx" \
    -e "$TMP/nginx/nginx-error.log" -c "$TMP/nginx/nginx.conf"
NG_PID=$BG_PID
wait_port "$NG_PORT" "$NG_PID" nginx
expect_exe "$NG_PID" "$NGINX" nginx

log "upstream :$UP_PORT (pid $UP_PID, CPU $LOAD_CPU), certgate :$CG_PORT (pid $CG_PID, CPU $PROXY_CPU), $NGINX_VERSION :$NG_PORT (pid $NG_PID, CPU $PROXY_CPU)"

# ---------------------------------------------------------------------------------------------
# Sanity: both proxies answer 200 to the bench client (EC and RSA) and refuse a client without
# a certificate.

FAILED=0
check_proxy() { # NAME PORT
    local name=$1 port=$2 kind code
    for kind in ec rsa; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
            --resolve "localhost:$port:127.0.0.1" --cacert "$PKI/ca.pem" \
            --cert "$PKI/client-$kind.pem" --key "$PKI/client-$kind.key" \
            "https://localhost:$port/" 2>>"$TMP/curl.log") || code=000
        if [[ $code != 200 ]]; then
            echo "run.sh: $name answered $code to the bench client ($kind)" >&2
            FAILED=1
        fi
    done
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
        --resolve "localhost:$port:127.0.0.1" --cacert "$PKI/ca.pem" \
        "https://localhost:$port/" 2>>"$TMP/curl.log") || code=000
    if [[ $code == 200 ]]; then
        echo "run.sh: $name answered 200 to a client without a certificate" >&2
        FAILED=1
    fi
}
check_proxy certgate "$CG_PORT"
check_proxy nginx "$NG_PORT"
if [[ $FAILED != 0 ]]; then
    tail -n 20 "$TMP/certgate.log" "$TMP/nginx/nginx-error.log" "$TMP/curl.log" >&2 || true
    exit 1
fi
log "both proxies answer 200 to the bench client (EC and RSA) and refuse anonymous clients"

# ---------------------------------------------------------------------------------------------
# Measurements

RAW="$TMP/results.txt"
: >"$RAW"
declare -A R # R[proxy.metric]=value

# loadgen PROXY PORT OUTFILE ARGS...: run the load generator pinned to LOAD_CPU against PORT.
loadgen() {
    local port=$1 out=$2 mode=$3 kind=$4
    shift 4
    local rc=0
    pin "$LOAD_CPU" "$LOADGEN" "$mode" --connect "127.0.0.1:$port" --ca "$PKI/ca.pem" \
        --cert "$PKI/client-$kind.pem" --key "$PKI/client-$kind.key" "$@" \
        >"$out" 2>"$out.err" || rc=$?
    if ((rc == 2)) || ! grep -q '^RESULT ' "$out"; then
        cat "$out.err" >&2
        die "load generator failed ($mode against port $port)"
    fi
    if ((rc != 0)); then
        echo "run.sh: errors during $mode against port $port:" >&2
        head -n 5 "$out.err" >&2
    fi
    return 0
}

# measure NAME PID PORT TAG ROUND MODE KIND ARGS...: proxy CPU time around one loadgen run.
# Per-round values go to R[NAME.TAG.METRIC.rROUND]; the medians are computed after all rounds.
measure() {
    local name=$1 pid=$2 port=$3 tag=$4 round=$5 mode=$6 kind=$7
    shift 7
    local out="$TMP/$name-$tag-r$round.out" c0 c1 t0 t1 ticks cpu_s wall_s ok k
    alive "$pid" "$name"
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    loadgen "$port" "$out" "$mode" "$kind" "$@"
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "$pid")
    alive "$pid" "$name"
    ticks=$((c1 - c0))
    cpu_s=$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.4f", t / hz }')
    wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    ok=$(field ok "$out")
    k="$name.$tag"
    R[$k.cpu_us_per.r$round]=$(awk -v s="$cpu_s" -v n="${ok:-0}" \
        'BEGIN { if (n > 0) printf "%.2f", s * 1e6 / n; else print "nan" }')
    R[$k.util.r$round]=$(awk -v s="$cpu_s" -v w="$wall_s" 'BEGIN { printf "%.1f", 100 * s / w }')
    R[$k.ok.r$round]=$ok
    R[$k.errors.r$round]=$(field errors "$out")
    R[$k.p50.r$round]=$(field p50_us "$out")
    R[$k.p99.r$round]=$(field p99_us "$out")
    R[$k.rate.r$round]=$(field rps "$out")$(field hps "$out")
    echo "round $round $name $tag proxy_cpu_ticks=$ticks wall_s=$(awk -v w="$wall_s" 'BEGIN { printf "%.3f", w }') cpu_us_per_op=${R[$k.cpu_us_per.r$round]} proxy_cpu_use=${R[$k.util.r$round]}% $(grep '^RESULT ' "$out")" >>"$RAW"
}

# median FMT VALUE...: median of the numeric VALUEs (mean of the two middle ones for an even
# count), printed with the awk printf format FMT; "nan" when there is no numeric value.
median() {
    local fmt=$1
    shift
    printf '%s\n' "$@" | awk -v fmt="$fmt" '
        $1 ~ /^-?[0-9]+([.][0-9]+)?$/ { v[n++] = $1 + 0 }
        END {
            if (n == 0) { print "nan"; exit }
            for (i = 1; i < n; i++) {
                x = v[i]
                for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]
                v[j + 1] = x
            }
            m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
            printf fmt "\n", m
        }'
}

# idle_test NAME PID PORT: RSS before and while holding IDLE_CONNS idle connections.
idle_test() {
    local name=$1 pid=$2 port=$3
    # stdout (READY, RESULT) and stderr (error messages) of the load generator share one file.
    local out="$TMP/$name-idle.out" before during lg i opened rc=0
    alive "$pid" "$name"
    before=$(rss_kb "$pid")
    start_bg "$LOAD_CPU" "$out" "$LOADGEN" idle --connect "127.0.0.1:$port" \
        --ca "$PKI/ca.pem" --cert "$PKI/client-ec.pem" --key "$PKI/client-ec.key" \
        --conns "$IDLE_CONNS" --hold "$IDLE_HOLD"
    lg=$BG_PID
    for i in $(seq 1 1200); do
        grep -q '^READY' "$out" && break
        kill -0 "$lg" 2>/dev/null || break
        sleep 0.1
    done
    grep -q '^READY' "$out" || { cat "$out" >&2; die "idle load generator never got READY ($name)"; }
    sleep 1 # let the proxy settle
    during=$(rss_kb "$pid")
    wait "$lg" || rc=$?
    ((rc != 2)) || { cat "$out" >&2; die "idle load generator failed ($name)"; }
    ((rc == 0)) || { echo "run.sh: errors during idle test against $name:" >&2; grep -v '^RESULT\|^READY' "$out" | head -n 5 >&2; }
    opened=$(sed -n 's/^READY conns=//p' "$out")
    echo "$name idle rss_before_kb=$before rss_holding_kb=$during $(grep '^RESULT ' "$out")" >>"$RAW"
    R[$name.idle.before_kb]=$before
    R[$name.idle.during_kb]=$during
    R[$name.idle.bytes_per_conn]=$(awk -v a="$before" -v b="$during" -v n="${opened:-0}" \
        'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "nan" }')
    R[$name.idle.errors]=$(field errors "$out")
}

PROXIES=(certgate nginx)
declare -A PID_OF=([certgate]=$CG_PID [nginx]=$NG_PID)
declare -A PORT_OF=([certgate]=$CG_PORT [nginx]=$NG_PORT)

# Idle memory first, on processes that have served only the sanity checks.
for p in "${PROXIES[@]}"; do
    log "$p: $IDLE_CONNS idle connections (hold ${IDLE_HOLD}s)"
    idle_test "$p" "${PID_OF[$p]}" "${PORT_OF[$p]}"
done

if [[ $WARMUP != 0 ]]; then
    for p in "${PROXIES[@]}"; do
        log "$p: warm-up (${WARMUP}s)"
        loadgen "${PORT_OF[$p]}" "$TMP/$p-warmup.out" keepalive ec --conns "$KA_CONNS" --duration "$WARMUP"
    done
fi

# The proxies are measured alternately, test by test, in ROUNDS rounds; the order of the two
# proxies flips from one round to the next (odd rounds: certgate first, even rounds: nginx
# first), so that neither always goes first and a burst of background noise is unlikely to hit
# one proxy in every round. The table shows medians over the rounds.
for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2 == 1)); then
        ORDER=(certgate nginx)
    else
        ORDER=(nginx certgate)
    fi
    for p in "${ORDER[@]}"; do
        log "round $round/$ROUNDS: $p: keep-alive, $KA_CONNS connections, ${DURATION}s"
        measure "$p" "${PID_OF[$p]}" "${PORT_OF[$p]}" ka "$round" keepalive ec \
            --conns "$KA_CONNS" --duration "$DURATION"
    done
    for kind in ec rsa; do
        for p in "${ORDER[@]}"; do
            log "round $round/$ROUNDS: $p: full handshakes, $kind client certificate, $HS_CONCURRENCY workers, ${DURATION}s"
            measure "$p" "${PID_OF[$p]}" "${PORT_OF[$p]}" "hs_$kind" "$round" handshake "$kind" \
                --concurrency "$HS_CONCURRENCY" --duration "$DURATION"
        done
    done
done

# ---------------------------------------------------------------------------------------------
# Report

# Medians over the rounds of the per-round values (CPU µs per request/handshake, rate, p50, p99,
# CPU use); errors are summed over the rounds.
declare -A MEDIAN_FMT=([cpu_us_per]=%.1f [rate]=%.1f [p50]=%.0f [p99]=%.0f [util]=%.0f%%)
declare -A RATIO # RATIO[tag.metric]=median of the per-round certgate / nginx ratios
for p in "${PROXIES[@]}"; do
    for tag in ka hs_ec hs_rsa; do
        for m in "${!MEDIAN_FMT[@]}"; do
            vals=()
            for ((round = 1; round <= ROUNDS; round++)); do
                vals+=("${R[$p.$tag.$m.r$round]:-}")
            done
            R[$p.$tag.$m]=$(median "${MEDIAN_FMT[$m]}" "${vals[@]}")
        done
        errs=0
        for ((round = 1; round <= ROUNDS; round++)); do
            errs=$((errs + ${R[$p.$tag.errors.r$round]:-0}))
        done
        R[$p.$tag.errors]=$errs
    done
    R[$p.errors]=$((${R[$p.ka.errors]:-0} + ${R[$p.hs_ec.errors]:-0} + ${R[$p.hs_rsa.errors]:-0} + ${R[$p.idle.errors]:-0}))
done
# The ratio of a round-based metric is the median of its per-round ratios: both proxies run
# back to back in each round, so a round's ratio compares them under the same machine noise
# (a paired comparison), which the ratio of two medians taken from different rounds does not.
for tag in ka hs_ec hs_rsa; do
    for m in "${!MEDIAN_FMT[@]}"; do
        ratios=()
        for ((round = 1; round <= ROUNDS; round++)); do
            ratios+=("$(awk -v a="${R[certgate.$tag.$m.r$round]:-}" -v b="${R[nginx.$tag.$m.r$round]:-}" \
                'BEGIN { if (b + 0 > 0 && a != "" && a != "nan") printf "%.4f", a / b; else print "-" }')")
        done
        RATIO[$tag.$m]=$(median %.2f "${ratios[@]}")
    done
done

MISSED=0
# row LABEL KEY TARGET_OP TARGET : TARGET_OP is "le" (ratio <= target), "zero" or "-"
row() {
    local label=$1 key=$2 op=$3 target=$4
    local a=${R[certgate.$key]} b=${R[nginx.$key]} ratio verdict="" tgt=""
    if [[ -n ${RATIO[$key]:-} && ${RATIO[$key]} != nan ]]; then
        ratio=${RATIO[$key]}
    else
        ratio=$(awk -v a="${a%\%}" -v b="${b%\%}" 'BEGIN { if (b + 0 > 0 && a != "nan") printf "%.2f", a / b; else print "-" }')
    fi
    case $op in
    le)
        tgt="<= $target"
        if [[ $ratio == - ]]; then
            verdict="?"
        elif awk -v r="$ratio" -v t="$target" 'BEGIN { exit !(r <= t) }'; then
            verdict=ok
        else
            verdict=MISS
            MISSED=1
        fi
        ;;
    zero)
        tgt="certgate = 0"
        if [[ $a == 0 ]]; then verdict=ok; else verdict=MISS; MISSED=1; fi
        ;;
    esac
    printf '%-40s %12s %12s %8s   %-14s %s\n' "$label" "$a" "$b" "$ratio" "$tgt" "$verdict"
}
# by_round LABEL KEY: the certgate / nginx ratio of KEY in each round (same-round values).
by_round() {
    local label=$1 key=$2 round ratios=""
    for ((round = 1; round <= ROUNDS; round++)); do
        ratios+=" $(awk -v a="${R[certgate.$key.r$round]:-}" -v b="${R[nginx.$key.r$round]:-}" \
            'BEGIN { if (b + 0 > 0 && a != "" && a != "nan") printf "%.2f", a / b; else print "-" }')"
    done
    printf '%-40s%s\n' "$label by round:" "$ratios"
}

echo
echo "certgate vs $NGINX_VERSION — proxy on CPU $PROXY_CPU, load generator + upstream on CPU $LOAD_CPU"
echo "duration ${DURATION}s per measurement, $ROUNDS interleaved round(s): keep-alive and handshake values are medians over the rounds,"
echo "their ratios the median of the per-round ratios (both proxies measured back to back in each round)"
echo "keep-alive: $KA_CONNS connections; handshakes: $HS_CONCURRENCY workers, TLS 1.3, X25519, no resumption; idle: $IDLE_CONNS connections"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)$( [[ $SMOKE == 1 ]] && echo '   (SMOKE run: numbers are not meaningful)')"
echo
printf '%-40s %12s %12s %8s   %-14s %s\n' "metric" "certgate" "nginx" "ratio" "target" ""
printf '%-40s %12s %12s %8s   %-14s %s\n' "------" "--------" "-----" "-----" "------" ""
row "CPU µs per keep-alive request" ka.cpu_us_per le 0.7
row "keep-alive req/s" ka.rate - -
row "keep-alive p50 µs" ka.p50 - -
row "keep-alive p99 µs" ka.p99 le 1.0
row "proxy CPU use during keep-alive" ka.util - -
row "CPU µs per handshake+request (EC)" hs_ec.cpu_us_per le 0.6
row "handshakes/s (EC)" hs_ec.rate - -
row "handshake p50 µs (EC)" hs_ec.p50 - -
row "handshake p99 µs (EC)" hs_ec.p99 le 1.0
row "proxy CPU use during handshakes (EC)" hs_ec.util - -
row "CPU µs per handshake+request (RSA)" hs_rsa.cpu_us_per le 0.6
row "handshakes/s (RSA)" hs_rsa.rate - -
row "handshake p99 µs (RSA)" hs_rsa.p99 le 1.0
row "RSS kB before idle test" idle.before_kb - -
row "RSS kB holding idle connections" idle.during_kb - -
row "bytes per idle connection" idle.bytes_per_conn le 1.0
row "errors (all tests)" errors zero -
echo
by_round "keep-alive CPU ratio" ka.cpu_us_per
by_round "keep-alive p99 ratio" ka.p99
by_round "handshake CPU ratio (EC)" hs_ec.cpu_us_per
by_round "handshake p99 ratio (EC)" hs_ec.p99
by_round "handshake CPU ratio (RSA)" hs_rsa.cpu_us_per
by_round "handshake p99 ratio (RSA)" hs_rsa.p99
echo
echo "raw results:"
sed 's/^/  /' "$RAW"

ERRORS=$((${R[certgate.errors]} + ${R[nginx.errors]}))
if ((ERRORS > 0)); then
    echo "run.sh: $ERRORS errors (certgate ${R[certgate.errors]}, nginx ${R[nginx.errors]})" >&2
    [[ $KEEP_TMP == 1 ]] || tail -n 20 "$TMP/certgate.log" >&2 || true
    exit 1
fi
if [[ $STRICT == 1 && $MISSED == 1 ]]; then
    echo "run.sh: some targets were missed (STRICT=1)" >&2
    exit 1
fi
exit 0
