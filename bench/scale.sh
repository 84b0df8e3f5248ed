#!/usr/bin/env bash
# How cost grows with the work: certgate and nginx side by side, one run, one machine.
#
#   bench/scale.sh                  # everything, 3 rounds (~10-15 min + build)
#   ONLY=routes bench/scale.sh      # one section: body, routes, anchors, h2, idle (or a list: "body h2")
#   SMOKE=1 bench/scale.sh          # tiny version of everything (~1.5 min): does it all work?
#   PLOTS=docs/img bench/scale.sh   # also write the SVG plots (bench/plot.py) into docs/img
#
# Sections (each restarts the proxies with the configuration it varies):
#   body     POST bodies of 1 KB .. 100 MB streamed to the upstream: CPU per MB and per request, MB/s
#   routes   10 .. 10,000 routes with one subject:/fingerprint: rule each, the request hitting the
#            middle or the last route: keep-alive CPU per request, start-up time, RSS after start
#   anchors  1 .. 500 trust anchors (the client's CA last): CPU per full mTLS handshake, RSS
#   h2       HTTP/2, 100 concurrent streams on one connection (oha): CPU per request, req/s, p99
#   idle     1,000 .. 20,000 idle mTLS connections: bytes per connection
#
# The proxy under test runs on PROXY_CPU (0), the load generator and the upstream on LOAD_CPU (1);
# the proxy's CPU time is read from /proc (utime + stime of its process tree) around each load,
# as bench/run.sh does. The proxies are measured one after the other, never at the same time,
# in ROUNDS interleaved rounds (odd rounds certgate first, even rounds nginx first); tables show
# medians over the rounds, and each certgate/nginx ratio is the median of the per-round ratios.
# Results: RESULTS (default target/bench-scale/results.tsv), one value per line; bench/plot.py
# draws them. Exit status: 0 without errors, 1 when a request failed or a sanity check did not
# hold, 2 on a set-up problem. See bench/README.md ("How cost grows").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-0}
if [[ $SMOKE == 1 ]]; then
    ROUNDS=${ROUNDS:-1}
    DURATION=${DURATION:-1}
    WARMUP=${WARMUP:-0}
    BODY_MIB=${BODY_MIB:-40}
    BODY_MAX_REQUESTS=${BODY_MAX_REQUESTS:-2000}
    H2_REQUESTS=${H2_REQUESTS:-20000}
    IDLE_COUNTS=${IDLE_COUNTS:-200 1000}
    IDLE_HOLD=${IDLE_HOLD:-1}
else
    ROUNDS=${ROUNDS:-3}
    DURATION=${DURATION:-3}
    WARMUP=${WARMUP:-1}
    BODY_MIB=${BODY_MIB:-2048}
    BODY_MAX_REQUESTS=${BODY_MAX_REQUESTS:-50000}
    H2_REQUESTS=${H2_REQUESTS:-100000}
    IDLE_COUNTS=${IDLE_COUNTS:-1000 5000 10000 20000}
    IDLE_HOLD=${IDLE_HOLD:-3}
fi
BODY_SIZES=${BODY_SIZES:-1024 65536 1048576 10485760 104857600}
BODY_CONNS=${BODY_CONNS:-4}
BODY_MAX_S=${BODY_MAX_S:-60}
ROUTE_COUNTS=${ROUTE_COUNTS:-10 100 1000 10000}
ANCHOR_COUNTS=${ANCHOR_COUNTS:-1 10 100 500}
KA_CONNS=${KA_CONNS:-32}
HS_CONCURRENCY=${HS_CONCURRENCY:-16}
H2_STREAMS=${H2_STREAMS:-100}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KEEP_TMP=${KEEP_TMP:-0}
ONLY=${ONLY:-body routes anchors h2 idle}
RESULTS=${RESULTS:-$ROOT/target/bench-scale/results.tsv}
PLOTS=${PLOTS:-}
CACHE=$ROOT/target/bench-scale-cache

die() { echo "scale.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }
warn() { echo "scale.sh: $*" >&2; }

is_num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
is_int_list() { [[ $1 =~ ^[0-9]+([[:space:]]+[0-9]+)*$ ]]; }
if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || ((10#$ROUNDS < 1 || 10#$ROUNDS > 20)); then die "ROUNDS must be in 1..20"; fi
ROUNDS=$((10#$ROUNDS))
for k in DURATION WARMUP IDLE_HOLD BODY_MAX_S; do
    is_num "${!k}" || die "$k must be a number of seconds"
done
awk -v d="$DURATION" 'BEGIN { exit !(d > 0 && d <= 600) }' || die "DURATION must be in (0, 600]"
for k in BODY_SIZES ROUTE_COUNTS ANCHOR_COUNTS IDLE_COUNTS BODY_MIB BODY_MAX_REQUESTS BODY_CONNS \
    KA_CONNS HS_CONCURRENCY H2_STREAMS H2_REQUESTS; do
    is_int_list "${!k}" || die "$k must be (a list of) positive integers"
done
for n in $BODY_SIZES; do ((n >= 1 && n <= 1073741824)) || die "BODY_SIZES: $n is not in 1..1 GiB"; done
for n in $ROUTE_COUNTS; do ((n >= 5 && n <= 100000)) || die "ROUTE_COUNTS: $n is not in 5..100000"; done
for n in $ANCHOR_COUNTS; do ((n >= 1 && n <= 2000)) || die "ANCHOR_COUNTS: $n is not in 1..2000"; done
for n in $IDLE_COUNTS; do ((n >= 1 && n <= 100000)) || die "IDLE_COUNTS: $n is not in 1..100000"; done
SECTIONS=()
for s in ${ONLY//,/ }; do
    case $s in
    body | routes | anchors | h2 | idle) SECTIONS+=("$s") ;;
    *) die "ONLY: unknown section '$s' (body, routes, anchors, h2, idle)" ;;
    esac
done
((${#SECTIONS[@]} > 0)) || die "ONLY names no section"
want() { [[ " ${SECTIONS[*]} " == *" $1 "* ]]; }

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)

# ---------------------------------------------------------------------------------------------
# Rough run time, printed before anything starts (the build is not included).

body_requests() { # SIZE: requests per proxy and round: BODY_MIB worth, at most BODY_MAX_REQUESTS,
    # a multiple of BODY_CONNS (bench_loadgen splits the count evenly over the connections)
    awk -v s="$1" -v mib="$BODY_MIB" -v max="$BODY_MAX_REQUESTS" -v c="$BODY_CONNS" 'BEGIN {
        n = int(mib * 1048576 / s); if (n > max) n = max; n = int(n / c) * c; if (n < c) n = c; print n }'
}
expected_s() {
    local t=0 s n
    if want body; then
        # guess: 15,000 requests/s and 300 MB/s, whichever is slower
        for s in $BODY_SIZES; do
            n=$(body_requests "$s")
            t=$(awk -v t="$t" -v n="$n" -v s="$s" -v r="$ROUNDS" 'BEGIN {
                a = n / 15000; b = n * s / 314572800; print t + 2 * r * (a > b ? a : b) + 1 }')
        done
    fi
    if want routes; then
        for n in $ROUTE_COUNTS; do
            t=$(awk -v t="$t" -v d="$DURATION" -v r="$ROUNDS" -v w="$WARMUP" -v n="$n" \
                'BEGIN { print t + 2 * 2 * r * d + 2 * w + 2 + n / 2000 }')
        done
    fi
    if want anchors; then
        for n in $ANCHOR_COUNTS; do
            t=$(awk -v t="$t" -v d="$DURATION" -v r="$ROUNDS" -v w="$WARMUP" \
                'BEGIN { print t + 3 * r * d + 2 * w + 3 }')
        done
    fi
    if want h2; then
        t=$(awk -v t="$t" -v n="$H2_REQUESTS" -v r="$ROUNDS" 'BEGIN { print t + 2 * r * n / 25000 + 4 }')
    fi
    if want idle; then
        for n in $IDLE_COUNTS; do
            # opening: ~800 handshakes/s on average over the two proxies
            t=$(awk -v t="$t" -v n="$n" -v h="$IDLE_HOLD" 'BEGIN { print t + 2 * (n / 800 + h + 2) + 1 }')
        done
    fi
    awk -v t="$t" 'BEGIN { printf "%.0f", t + 5 }'
}
log "sections: ${SECTIONS[*]}; $ROUNDS round(s); expected run time: about $(expected_s) s (build not included)"

# ---------------------------------------------------------------------------------------------
# Processes and clean-up

TMP=$(mktemp -d "${TMPDIR:-/tmp}/certgate-scale.XXXXXX")
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - INT TERM
    stop_started scale.sh
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PIN=1
command -v taskset >/dev/null || { warn "taskset not found, not pinning"; PIN=0; }
if ((NCPU < 2)); then
    warn "only $NCPU CPU: proxy and load share CPU 0 (numbers are not meaningful)"
    PROXY_CPU=0
    LOAD_CPU=0
fi
# pin and start_bg come from bench/lib.sh.
# stop_pid PID: stop one process started here (TERM, then KILL after 5 s) and forget it.
stop_pid() {
    local pid=$1 i keep=() p
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}
alive() { kill -0 "$1" 2>/dev/null || { warn "$2 (pid $1) is gone; see $TMP/$2.log"; exit 1; }; }
now_ns() { date +%s%N; }


# wait_ready PORT PID NAME: like wait_port, polling every 10 ms (start-up time is measured with
# it); up to 120 s.
wait_ready() {
    local i
    for i in $(seq 1 12000); do
        port_in_use "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (log: $TMP/$3.log)"
        sleep 0.01
    done
    die "$3 did not listen on port $1 within 120 s"
}

# field KEY FILE: value of KEY=... in the RESULT line of FILE
field() { grep '^RESULT ' "$2" | tail -n1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# ---------------------------------------------------------------------------------------------
# Build, tools, PKI

release_binaries

SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
if [[ -z $NGINX ]]; then
    log "nginx not found: installing it from Debian packages"
    $SUDO apt-get update >&2 || die "apt-get update failed"
    $SUDO apt-get install -y nginx-light >&2 || $SUDO apt-get install -y nginx >&2 ||
        die "cannot install nginx"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
"$NGINX" -V 2>&1 | grep -q -- '--with-http_v2_module' || ! want h2 ||
    die "$NGINX_VERSION has no HTTP/2 module (needed by the h2 section)"

OHA=
if want h2; then
    OHA=$(command -v oha || true)
    [[ -z $OHA && -x $HOME/.cargo/bin/oha ]] && OHA=$HOME/.cargo/bin/oha
    if [[ -z $OHA ]]; then
        log "oha not found: installing it with cargo install oha --locked (needed by the h2 section)"
        cargo install oha --locked >&2 || die "cargo install oha failed"
        OHA=$HOME/.cargo/bin/oha
    fi
    command -v python3 >/dev/null || die "python3 is needed to read oha's JSON output"
fi
command -v openssl >/dev/null || ! want anchors || die "openssl is needed by the anchors section"
command -v curl >/dev/null || die "curl is needed for the sanity checks"

# File descriptors: the idle section needs one per connection in the proxy and in the load
# generator. Raise the soft limit as far as allowed; counts that do not fit are lowered (and
# said so).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
# nginx: worker_connections as in bench/nginx.conf.tmpl; the idle section raises it per count.
NGINX_WORKER_CONNECTIONS=16384

mkdir -p "$(dirname "$RESULTS")"
RESULTS=$(cd "$(dirname "$RESULTS")" && pwd)/$(basename "$RESULTS")
PKI="$TMP/pki"
"$LOADGEN" pki --dir "$PKI" >/dev/null
SUBJECT="CN=bench-client,O=Bench Inc,C=US"

# ---------------------------------------------------------------------------------------------
# Results: one TSV line per value (section, variant, x, proxy, round, metric, value); round is
# 1..ROUNDS or "median", proxy is certgate, nginx or "ratio" (certgate / nginx).

declare -A V
{
    echo "# bench/scale.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $NCPU CPUs; $NGINX_VERSION; certgate $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# smoke=$SMOKE rounds=$ROUNDS duration_s=$DURATION sections=${SECTIONS[*]} proxy_cpu=$PROXY_CPU load_cpu=$LOAD_CPU"
    printf 'section\tvariant\tx\tproxy\tround\tmetric\tvalue\n'
} >"$RESULTS"
emit() { # SECTION VARIANT X PROXY ROUND METRIC VALUE
    V["$1|$2|$3|$4|$6|$5"]=$7
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}
val() { echo "${V["$1|$2|$3|$4|$5|$6"]:-nan}"; } # SECTION VARIANT X PROXY METRIC ROUND

# median VALUE...: median of the numeric values (mean of the middle two for an even count),
# "nan" when there is none.
median() {
    printf '%s\n' "$@" | awk '
        $1 ~ /^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$/ { v[n++] = $1 + 0 }
        END {
            if (n == 0) { print "nan"; exit }
            for (i = 1; i < n; i++) {
                x = v[i]
                for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]
                v[j + 1] = x
            }
            printf "%.4f\n", (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
        }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "nan" && a != "") printf "%.4f", a / b; else print "nan" }'; }
per() { awk -v a="$1" -v b="$2" -v k="${3:-1}" 'BEGIN { if (b + 0 > 0) printf "%.4f", a * k / b; else print "nan" }'; }

# summarize SECTION VARIANT X METRIC...: per proxy the median over the rounds (errors: the sum),
# and the median of the per-round certgate / nginx ratios.
summarize() {
    local s=$1 v=$2 x=$3 m p r vals ratios sum
    shift 3
    for m in "$@"; do
        for p in certgate nginx; do
            if [[ $m == errors ]]; then
                sum=0
                for ((r = 1; r <= ROUNDS; r++)); do
                    sum=$((sum + $(val "$s" "$v" "$x" "$p" "$m" "$r" | sed 's/nan/0/')))
                done
                emit "$s" "$v" "$x" "$p" median "$m" "$sum"
                continue
            fi
            vals=()
            for ((r = 1; r <= ROUNDS; r++)); do vals+=("$(val "$s" "$v" "$x" "$p" "$m" "$r")"); done
            emit "$s" "$v" "$x" "$p" median "$m" "$(median "${vals[@]}")"
        done
        [[ $m == errors ]] && continue
        ratios=()
        for ((r = 1; r <= ROUNDS; r++)); do
            ratios+=("$(ratio "$(val "$s" "$v" "$x" certgate "$m" "$r")" "$(val "$s" "$v" "$x" nginx "$m" "$r")")")
        done
        emit "$s" "$v" "$x" ratio median "$m" "$(median "${ratios[@]}")"
    done
}
# once SECTION VARIANT X METRIC...: metrics measured once per proxy (round 1): the plain ratio.
once() {
    local s=$1 v=$2 x=$3 m
    shift 3
    for m in "$@"; do
        emit "$s" "$v" "$x" ratio median "$m" \
            "$(ratio "$(val "$s" "$v" "$x" certgate "$m" 1)" "$(val "$s" "$v" "$x" nginx "$m" 1)")"
    done
}
order_of_round() { if (($1 % 2 == 1)); then echo certgate nginx; else echo nginx certgate; fi; }

ERRORS=0
TABLES="$TMP/tables.txt"
: >"$TABLES"
# show: a finished table (stdin) to stderr now, and to stdout with the others at the end.
show() { tee -a "$TABLES" >&2; echo >>"$TABLES"; }
# f VALUE DECIMALS: a number for a table ("-" when missing).
f() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "nan" || v == "") print "-"; else printf "%.*f", d, v }'; }
size_label() {
    awk -v s="$1" 'BEGIN {
        if (s >= 1048576 && s % 1048576 == 0) printf "%d MB", s / 1048576
        else if (s >= 1024 && s % 1024 == 0) printf "%d KB", s / 1024
        else printf "%d B", s }'
}

# ---------------------------------------------------------------------------------------------
# The upstream (one for the whole run) and the proxies

UP_PORT=$(free_port)
start_bg "$LOAD_CPU" "$TMP/upstream.log" "$UPSTREAM" --listen "127.0.0.1:$UP_PORT"
UP_PID=$BG_PID
wait_port "$UP_PORT" "$UP_PID" upstream
expect_exe "$UP_PID" "$UPSTREAM" upstream

declare -A PID_OF PORT_OF START_MS START_CPU_MS START_RSS
# start_certgate TAG ARGS...: a certgate with the common flags and ARGS; its start-up (exec to
# listening) is timed. certgate runs with RUST_LOG=warn, as in bench/run.sh (nginx has
# access_log off).
# launch_timed PROXY TAG PORT EXE CMD...: start CMD (which execs EXE) on PROXY_CPU, wait until
# PORT accepts, and record the proxy's pid, port, start-up time, start-up CPU and RSS.
launch_timed() {
    local proxy=$1 tag=$2 port=$3 exe=$4 t0 t1 pid
    shift 4
    t0=$(now_ns)
    start_bg "$PROXY_CPU" "$TMP/$proxy-$tag.log" "$@"
    pid=$BG_PID
    wait_ready "$port" "$pid" "$proxy-$tag"
    t1=$(now_ns)
    expect_exe "$pid" "$exe" "$proxy-$tag"
    PID_OF[$proxy]=$pid
    PORT_OF[$proxy]=$port
    START_MS[$proxy]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
    START_CPU_MS[$proxy]=$(($(cpu_ticks "$pid") * 1000 / CLK_TCK))
    START_RSS[$proxy]=$(rss_kb "$pid")
}
start_certgate() {
    local tag=$1 port
    shift
    port=$(free_port)
    local args=(run --listen "127.0.0.1:$port" --admin-listen off
        --server-cert "$PKI/server.pem" --server-key "$PKI/server.key"
        --upstream "http://127.0.0.1:$UP_PORT" "$@")
    launch_timed certgate "$tag" "$port" "$CERTGATE" env RUST_LOG=warn "$CERTGATE" "${args[@]}"
}
# start_nginx TAG TRUST HTTP2 : nginx from bench/nginx-scale.conf.tmpl, with the maps.conf and
# locations.conf that the caller wrote into $TMP/nginx-TAG/; timed like certgate.
start_nginx() {
    local tag=$1 trust=$2 http2=$3 port dir
    dir="$TMP/nginx-$tag"
    port=$(free_port)
    sed -e "s|@CONF@|$dir|g" -e "s|@PKI@|$PKI|g" -e "s|@TRUST@|$trust|g" \
        -e "s|@UPSTREAM_PORT@|$UP_PORT|g" -e "s|@PORT@|$port|g" -e "s|@HTTP2@|$http2|g" \
        -e "s|@NOFILE@|$NOFILE|g" -e "s|@WORKER_CONNECTIONS@|$NGINX_WORKER_CONNECTIONS|g" \
        "$ROOT/bench/nginx-scale.conf.tmpl" >"$dir/nginx.conf"
    "$NGINX" -t -q -p "$dir" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" \
        >"$TMP/nginx-$tag.log" 2>&1 || { cat "$TMP/nginx-$tag.log" >&2; die "nginx -t failed ($tag)"; }
    launch_timed nginx "$tag" "$port" "$NGINX" "$NGINX" -p "$dir" -e "$dir/nginx-error.log" -c "$dir/nginx.conf"
}
stop_proxies() {
    local p
    for p in certgate nginx; do
        [[ -n ${PID_OF[$p]:-} ]] && stop_pid "${PID_OF[$p]}"
        PID_OF[$p]=
    done
}
# nginx_single_route DIR: the maps.conf and locations.conf of bench/nginx.conf.tmpl's one route.
nginx_single_route() {
    mkdir -p "$1"
    # shellcheck disable=SC2016 # nginx variables, not shell ones
    printf 'map $ssl_client_s_dn $allowed {\n    "%s" 1;\n    default 0;\n}\n' "$SUBJECT" >"$1/maps.conf"
    cat >"$1/locations.conf" <<'EOF'
location / {
    if ($allowed = 0) {
        return 403;
    }
    proxy_pass http://bench_upstream;
}
EOF
}
SINGLE_ROUTE=(--route b=/ --allow "b=subject:$SUBJECT")

# expect_code CODE PROXY PATH [CURL ARGS...]: one curl request with the bench client's EC
# certificate; a different status fails the run.
expect_code() {
    local want=$1 p=$2 path=$3 code
    shift 3
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
        --resolve "localhost:${PORT_OF[$p]}:127.0.0.1" --cacert "$PKI/ca.pem" \
        --cert "$PKI/client-ec.pem" --key "$PKI/client-ec.key" "$@" \
        "https://localhost:${PORT_OF[$p]}$path" 2>>"$TMP/curl.log") || code=000
    if [[ $code != "$want" ]]; then
        warn "$p answered $code (expected $want) to $path $*"
        tail -n 5 "$TMP/curl.log" >&2 || true
        exit 1
    fi
}

# lg PROXY OUT MODE ARGS...: the load generator, pinned to LOAD_CPU, against PROXY, with the EC
# client certificate; output in OUT (stderr in OUT.err). Set-up failures end the run.
lg() {
    local p=$1 out=$2 mode=$3 rc=0
    shift 3
    pin "$LOAD_CPU" "$LOADGEN" "$mode" --connect "127.0.0.1:${PORT_OF[$p]}" --ca "$PKI/ca.pem" \
        --cert "$PKI/client-ec.pem" --key "$PKI/client-ec.key" "$@" >"$out" 2>"$out.err" || rc=$?
    if ((rc == 2)) || ! grep -q '^RESULT ' "$out"; then
        cat "$out.err" >&2
        die "load generator failed ($mode against $p)"
    fi
    if ((rc != 0)); then
        warn "errors during $mode against $p:"
        head -n 5 "$out.err" >&2
    fi
    return 0
}
# measure PROXY CMD...: run CMD; M_TICKS is the proxy's CPU time during it (clock ticks),
# M_CPU_S the same in seconds, M_WALL_S the wall time, M_RC CMD's exit status.
measure() {
    local p=$1 pid c0 c1 t0 t1
    shift
    pid=${PID_OF[$p]}
    alive "$pid" "$p"
    c0=$(cpu_ticks "$pid")
    t0=$(now_ns)
    M_RC=0
    "$@" || M_RC=$?
    t1=$(now_ns)
    c1=$(cpu_ticks "$pid")
    alive "$pid" "$p"
    M_TICKS=$((c1 - c0))
    M_CPU_S=$(awk -v t="$M_TICKS" -v hz="$CLK_TCK" 'BEGIN { printf "%.4f", t / hz }')
    M_WALL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
}
warmup() { # PATH
    local p
    [[ $WARMUP == 0 ]] && return 0
    for p in certgate nginx; do
        lg "$p" "$TMP/warmup-$p.out" keepalive --conns "$KA_CONNS" --duration "$WARMUP" --path "$1"
    done
}
count_errors() { ERRORS=$((ERRORS + ${1:-0})); }

# ---------------------------------------------------------------------------------------------
# 1. Request bodies

section_body() {
    local size n file r p out label
    log "body: request bodies $(for s in $BODY_SIZES; do printf '%s, ' "$(size_label "$s")"; done | sed 's/, $//'), $BODY_CONNS keep-alive connections"
    start_certgate body "${SINGLE_ROUTE[@]}" --trust "$PKI/ca.pem"
    nginx_single_route "$TMP/nginx-body"
    start_nginx body "$PKI/ca.pem" ""
    for p in certgate nginx; do
        printf 'x%.0s' $(seq 1 1000) >"$TMP/sanity-body"
        expect_code 200 "$p" / --data-binary "@$TMP/sanity-body"
    done
    warmup /
    for size in $BODY_SIZES; do
        file="$TMP/body-$size"
        head -c "$size" /dev/zero >"$file"
        n=$(body_requests "$size")
        label=$(size_label "$size")
        for ((r = 1; r <= ROUNDS; r++)); do
            for p in $(order_of_round "$r"); do
                log "body: round $r/$ROUNDS: $p: $n POSTs of $label"
                out="$TMP/body-$size-$p-r$r.out"
                measure "$p" lg "$p" "$out" keepalive --conns "$BODY_CONNS" --requests "$n" \
                    --duration "$BODY_MAX_S" --body-file "$file" --header "Content-Type: application/octet-stream"
                local ok dur
                ok=$(field ok "$out")
                dur=$(field duration_s "$out")
                emit body post "$size" "$p" "$r" requests "$ok"
                emit body post "$size" "$p" "$r" cpu_us_per_req "$(per "$M_CPU_S" "$ok" 1e6)"
                emit body post "$size" "$p" "$r" cpu_us_per_mb \
                    "$(per "$M_CPU_S" "$(awk -v n="$ok" -v s="$size" 'BEGIN { print n * s / 1048576 }')" 1e6)"
                emit body post "$size" "$p" "$r" mb_per_s \
                    "$(per "$(awk -v n="$ok" -v s="$size" 'BEGIN { print n * s / 1048576 }')" "$dur")"
                emit body post "$size" "$p" "$r" req_per_s "$(field rps "$out")"
                emit body post "$size" "$p" "$r" p99_us "$(field p99_us "$out")"
                emit body post "$size" "$p" "$r" cpu_use_pct "$(per "$M_CPU_S" "$M_WALL_S" 100)"
                emit body post "$size" "$p" "$r" errors "$(field errors "$out")"
                count_errors "$(field errors "$out")"
                if awk -v d="$dur" -v m="$BODY_MAX_S" 'BEGIN { exit !(d >= m - 0.5) }'; then
                    warn "body $label against $p: stopped by BODY_MAX_S=${BODY_MAX_S}s after $ok of $n requests"
                fi
            done
        done
        rm -f "$file"
        summarize body post "$size" cpu_us_per_mb cpu_us_per_req mb_per_s req_per_s p99_us cpu_use_pct requests errors
    done
    stop_proxies
    {
        echo "Request bodies streamed to the upstream ($BODY_CONNS keep-alive connections; MB = 2^20 bytes; medians of $ROUNDS round(s))"
        printf '%-8s | %-26s | %-26s | %-17s | %-7s | %s\n' "" "CPU µs per MB" "CPU µs per request" "MB/s" "" ""
        printf '%-8s | %9s %9s %6s | %9s %9s %6s | %8s %8s | %7s | %s\n' "body" "cg" "ng" "ratio" \
            "cg" "ng" "ratio" "cg" "ng" "req" "errors"
        for size in $BODY_SIZES; do
            printf '%-8s | %9s %9s %6s | %9s %9s %6s | %8s %8s | %7s | %s/%s\n' "$(size_label "$size")" \
                "$(f "$(val body post "$size" certgate cpu_us_per_mb median)" 0)" \
                "$(f "$(val body post "$size" nginx cpu_us_per_mb median)" 0)" \
                "$(f "$(val body post "$size" ratio cpu_us_per_mb median)" 2)" \
                "$(f "$(val body post "$size" certgate cpu_us_per_req median)" 0)" \
                "$(f "$(val body post "$size" nginx cpu_us_per_req median)" 0)" \
                "$(f "$(val body post "$size" ratio cpu_us_per_req median)" 2)" \
                "$(f "$(val body post "$size" certgate mb_per_s median)" 0)" \
                "$(f "$(val body post "$size" nginx mb_per_s median)" 0)" \
                "$(f "$(val body post "$size" certgate requests median)" 0)" \
                "$(val body post "$size" certgate errors median)" "$(val body post "$size" nginx errors median)"
        done
    } | show
}

# ---------------------------------------------------------------------------------------------
# 2. Routes and rules

# gen_routes N DIR: N routes r00001..rN (prefix /svc/rNNNNN/), each with one rule: the middle
# and the last route allow the bench client by subject; the others alternate between another
# subject and a (random) fingerprint. Writes DIR/certgate.args (one argument per line),
# DIR/maps.conf and DIR/locations.conf (nginx: one location per route, and a map on
# "route:subject" and one on "route:fingerprint" — nginx has only the SHA-1 fingerprint).
gen_routes() {
    local n=$1 dir=$2
    mkdir -p "$dir"
    awk -v n="$n" -v mid="$(((n + 1) / 2))" -v subj="$SUBJECT" -v dir="$dir" '
        function hex(len,   s, i) { s = ""; for (i = 0; i < len; i++) s = s substr("0123456789abcdef", int(rand() * 16) + 1, 1); return s }
        BEGIN {
            srand(16)
            args = dir "/certgate.args"; loc = dir "/locations.conf"
            for (i = 1; i <= n; i++) {
                name = sprintf("r%05d", i)
                prefix = "/svc/" name "/"
                print "--route" > args; print name "=" prefix > args
                if (i == mid || i == n) { rule = "subject:" subj; dn[++nd] = name ":" subj }
                else if (i % 2 == 1) { d = sprintf("CN=client-%05d,O=Bench Inc,C=US", i); rule = "subject:" d; dn[++nd] = name ":" d }
                else { rule = "fingerprint:" hex(64); fp[++nf] = name ":" hex(40) }
                print "--allow" > args; print name "=" rule > args
                printf "location %s {\n    set $route %s;\n    if ($allowed = 0) {\n        return 403;\n    }\n    proxy_pass http://bench_upstream;\n}\n", prefix, name > loc
            }
            m = dir "/maps.conf"
            print "map \"$route:$ssl_client_s_dn\" $allow_dn {\n    default 0;" > m
            for (i = 1; i <= nd; i++) printf "    \"%s\" 1;\n", dn[i] > m
            print "}\nmap \"$route:$ssl_client_fingerprint\" $allowed {\n    default $allow_dn;" > m
            for (i = 1; i <= nf; i++) printf "    \"%s\" 1;\n", fp[i] > m
            print "}" > m
        }'
}

section_routes() {
    local n dir args=() r p out pos path mid bytes argmax
    argmax=$(getconf ARG_MAX)
    for n in $ROUTE_COUNTS; do
        log "routes: $n routes and rules"
        dir="$TMP/nginx-routes-$n"
        gen_routes "$n" "$dir"
        mapfile -t args <"$dir/certgate.args"
        # execve needs argv + envp within ARG_MAX (and each string within 128 KiB, which is why a
        # comma-separated CERTGATE_ROUTE cannot hold thousands of routes: one flag per route it is).
        bytes=$(awk '{ s += length($0) + 1 + 8 } END { print s + 0 }' "$dir/certgate.args")
        ((bytes + $(env | wc -c) < argmax)) || die "routes: $n routes need $bytes bytes of arguments, over ARG_MAX $argmax"
        start_certgate "routes-$n" --trust "$PKI/ca.pem" "${args[@]}"
        start_nginx "routes-$n" "$PKI/ca.pem" ""
        for p in certgate nginx; do
            emit routes start "$n" "$p" 1 start_ms "${START_MS[$p]}"
            emit routes start "$n" "$p" 1 start_cpu_ms "${START_CPU_MS[$p]}"
            emit routes start "$n" "$p" 1 rss_start_kb "${START_RSS[$p]}"
        done
        once routes start "$n" start_ms start_cpu_ms rss_start_kb
        mid=$(printf 'r%05d' $(((n + 1) / 2)))
        for p in certgate nginx; do
            expect_code 200 "$p" "/svc/$mid/x"
            expect_code 200 "$p" "/svc/$(printf 'r%05d' "$n")/x"
            expect_code 403 "$p" /svc/r00001/x # another subject
            expect_code 403 "$p" /svc/r00002/x # a fingerprint rule
            expect_code 404 "$p" /nowhere
        done
        warmup "/svc/$mid/x"
        for pos in mid last; do
            if [[ $pos == mid ]]; then path="/svc/$mid/x"; else path="/svc/$(printf 'r%05d' "$n")/x"; fi
            for ((r = 1; r <= ROUNDS; r++)); do
                for p in $(order_of_round "$r"); do
                    log "routes: $n routes: round $r/$ROUNDS: $p: keep-alive to the $pos route, $KA_CONNS connections, ${DURATION}s"
                    out="$TMP/routes-$n-$pos-$p-r$r.out"
                    measure "$p" lg "$p" "$out" keepalive --conns "$KA_CONNS" --duration "$DURATION" --path "$path"
                    emit routes "$pos" "$n" "$p" "$r" cpu_us_per_req "$(per "$M_CPU_S" "$(field ok "$out")" 1e6)"
                    emit routes "$pos" "$n" "$p" "$r" req_per_s "$(field rps "$out")"
                    emit routes "$pos" "$n" "$p" "$r" p99_us "$(field p99_us "$out")"
                    emit routes "$pos" "$n" "$p" "$r" cpu_use_pct "$(per "$M_CPU_S" "$M_WALL_S" 100)"
                    emit routes "$pos" "$n" "$p" "$r" errors "$(field errors "$out")"
                    count_errors "$(field errors "$out")"
                done
            done
            summarize routes "$pos" "$n" cpu_us_per_req req_per_s p99_us cpu_use_pct errors
        done
        for p in certgate nginx; do
            emit routes start "$n" "$p" 1 rss_after_kb "$(rss_kb "${PID_OF[$p]}")"
        done
        once routes start "$n" rss_after_kb
        stop_proxies
    done
    {
        echo "Routes, one rule each; the request hits the middle or the last route ($KA_CONNS keep-alive connections, medians of $ROUNDS round(s))"
        printf '%-7s | %-21s | %-21s | %-15s | %-15s | %s\n' "" "CPU µs/req, middle" "CPU µs/req, last" "start-up ms" "RSS after start" "errors"
        printf '%-7s | %6s %6s %7s | %6s %6s %7s | %7s %7s | %7s %7s |\n' "routes" "cg" "ng" "ratio" "cg" "ng" "ratio" "cg" "ng" "cg MB" "ng MB"
        for n in $ROUTE_COUNTS; do
            printf '%-7s | %6s %6s %7s | %6s %6s %7s | %7s %7s | %7s %7s | %s/%s\n' "$n" \
                "$(f "$(val routes mid "$n" certgate cpu_us_per_req median)")" \
                "$(f "$(val routes mid "$n" nginx cpu_us_per_req median)")" \
                "$(f "$(val routes mid "$n" ratio cpu_us_per_req median)" 2)" \
                "$(f "$(val routes last "$n" certgate cpu_us_per_req median)")" \
                "$(f "$(val routes last "$n" nginx cpu_us_per_req median)")" \
                "$(f "$(val routes last "$n" ratio cpu_us_per_req median)" 2)" \
                "$(f "$(val routes start "$n" certgate start_ms 1)" 0)" \
                "$(f "$(val routes start "$n" nginx start_ms 1)" 0)" \
                "$(f "$(awk -v k="$(val routes start "$n" certgate rss_start_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(f "$(awk -v k="$(val routes start "$n" nginx rss_start_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(($(val routes mid "$n" certgate errors median) + $(val routes last "$n" certgate errors median)))" \
                "$(($(val routes mid "$n" nginx errors median) + $(val routes last "$n" nginx errors median)))"
        done
        echo "(start-up: exec to accepting connections, measured once; start-up CPU ms and RSS after the load are in the TSV)"
    } | show
}

# ---------------------------------------------------------------------------------------------
# 3. Trust anchors

# other_cas N: make sure CACHE/anchors holds N other self-signed ECDSA P-256 CAs (made once).
other_cas() {
    local n=$1 i f
    mkdir -p "$CACHE/anchors"
    for ((i = 1; i <= n; i++)); do
        f=$(printf '%s/anchors/ca-%04d.pem' "$CACHE" "$i")
        [[ -s $f ]] && continue
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout /dev/null -subj "$(printf '/C=US/O=Scale Bench Other CAs/CN=Other CA %04d' "$i")" \
            -days 3650 -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$f.tmp" 2>/dev/null ||
            die "openssl could not make $f"
        mv "$f.tmp" "$f"
    done
}

section_anchors() {
    local n max=0 dir bundle i r p out
    for n in $ANCHOR_COUNTS; do ((n > max)) && max=$n; done
    log "anchors: making (or reusing) $((max - 1)) other CA certificates in $CACHE/anchors"
    other_cas $((max - 1))
    for n in $ANCHOR_COUNTS; do
        log "anchors: $n trust anchors"
        # certgate: a --trust directory of N files; nginx: the same certificates in one bundle,
        # in the same order. The client's CA comes last (in file-name order too).
        dir="$TMP/anchors-$n"
        bundle="$TMP/anchors-$n.pem"
        mkdir -p "$dir"
        for ((i = 1; i < n; i++)); do
            cp "$(printf '%s/anchors/ca-%04d.pem' "$CACHE" "$i")" "$dir/"
        done
        cp "$PKI/ca.pem" "$dir/zz-client-ca.pem"
        cat "$dir"/*.pem >"$bundle"
        start_certgate "anchors-$n" "${SINGLE_ROUTE[@]}" --trust "$dir"
        nginx_single_route "$TMP/nginx-anchors-$n"
        start_nginx "anchors-$n" "$bundle" ""
        for p in certgate nginx; do
            emit anchors hs "$n" "$p" 1 start_ms "${START_MS[$p]}"
            emit anchors hs "$n" "$p" 1 rss_start_kb "${START_RSS[$p]}"
            expect_code 200 "$p" /
        done
        once anchors hs "$n" start_ms rss_start_kb
        for ((r = 1; r <= ROUNDS; r++)); do
            for p in $(order_of_round "$r"); do
                log "anchors: $n anchors: round $r/$ROUNDS: $p: full handshakes, $HS_CONCURRENCY workers, ${DURATION}s"
                out="$TMP/anchors-$n-$p-r$r.out"
                measure "$p" lg "$p" "$out" handshake --concurrency "$HS_CONCURRENCY" --duration "$DURATION"
                emit anchors hs "$n" "$p" "$r" cpu_us_per_hs "$(per "$M_CPU_S" "$(field ok "$out")" 1e6)"
                emit anchors hs "$n" "$p" "$r" hs_per_s "$(field hps "$out")"
                emit anchors hs "$n" "$p" "$r" p99_us "$(field p99_us "$out")"
                emit anchors hs "$n" "$p" "$r" cpu_use_pct "$(per "$M_CPU_S" "$M_WALL_S" 100)"
                emit anchors hs "$n" "$p" "$r" errors "$(field errors "$out")"
                count_errors "$(field errors "$out")"
            done
        done
        summarize anchors hs "$n" cpu_us_per_hs hs_per_s p99_us cpu_use_pct errors
        for p in certgate nginx; do
            emit anchors hs "$n" "$p" 1 rss_after_kb "$(rss_kb "${PID_OF[$p]}")"
        done
        once anchors hs "$n" rss_after_kb
        stop_proxies
        # How much of the growth is the CA names in the CertificateRequest: certgate again with
        # --client-ca-hints none (same verification; nginx 1.22 cannot verify without sending
        # the names of ssl_client_certificate).
        start_certgate "anchors-$n-nohints" "${SINGLE_ROUTE[@]}" --trust "$dir" --client-ca-hints none
        expect_code 200 certgate /
        local vals=()
        for ((r = 1; r <= ROUNDS; r++)); do
            log "anchors: $n anchors: round $r/$ROUNDS: certgate --client-ca-hints none: full handshakes, ${DURATION}s"
            out="$TMP/anchors-$n-nohints-r$r.out"
            measure certgate lg certgate "$out" handshake --concurrency "$HS_CONCURRENCY" --duration "$DURATION"
            emit anchors hs_nohints "$n" certgate "$r" cpu_us_per_hs "$(per "$M_CPU_S" "$(field ok "$out")" 1e6)"
            emit anchors hs_nohints "$n" certgate "$r" errors "$(field errors "$out")"
            count_errors "$(field errors "$out")"
            vals+=("$(val anchors hs_nohints "$n" certgate cpu_us_per_hs "$r")")
        done
        emit anchors hs_nohints "$n" certgate median cpu_us_per_hs "$(median "${vals[@]}")"
        local sum=0
        for ((r = 1; r <= ROUNDS; r++)); do sum=$((sum + $(val anchors hs_nohints "$n" certgate errors "$r"))); done
        emit anchors hs_nohints "$n" certgate median errors "$sum"
        stop_proxies
    done
    {
        echo "Trust anchors (certgate --trust DIR, nginx ssl_client_certificate bundle; both name every CA in the CertificateRequest)"
        echo "full TLS 1.3 mTLS handshake + one request per connection, $HS_CONCURRENCY workers, medians of $ROUNDS round(s)"
        printf '%-8s | %-23s | %-9s | %-15s | %-17s | %-15s | %-15s | %s\n' "" "CPU µs per handshake" "cg, no" "handshakes/s" "p99 µs" \
            "RSS start MB" "RSS after MB" "errors"
        printf '%-8s | %8s %7s %6s | %9s | %7s %7s | %8s %8s | %7s %7s | %7s %7s |\n' "anchors" "cg" "ng" "ratio" "CA names" "cg" "ng" \
            "cg" "ng" "cg" "ng" "cg" "ng"
        for n in $ANCHOR_COUNTS; do
            printf '%-8s | %8s %7s %6s | %9s | %7s %7s | %8s %8s | %7s %7s | %7s %7s | %s/%s\n' "$n" \
                "$(f "$(val anchors hs "$n" certgate cpu_us_per_hs median)" 0)" \
                "$(f "$(val anchors hs "$n" nginx cpu_us_per_hs median)" 0)" \
                "$(f "$(val anchors hs "$n" ratio cpu_us_per_hs median)" 2)" \
                "$(f "$(val anchors hs_nohints "$n" certgate cpu_us_per_hs median)" 0)" \
                "$(f "$(val anchors hs "$n" certgate hs_per_s median)" 0)" \
                "$(f "$(val anchors hs "$n" nginx hs_per_s median)" 0)" \
                "$(f "$(val anchors hs "$n" certgate p99_us median)" 0)" \
                "$(f "$(val anchors hs "$n" nginx p99_us median)" 0)" \
                "$(f "$(awk -v k="$(val anchors hs "$n" certgate rss_start_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(f "$(awk -v k="$(val anchors hs "$n" nginx rss_start_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(f "$(awk -v k="$(val anchors hs "$n" certgate rss_after_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(f "$(awk -v k="$(val anchors hs "$n" nginx rss_after_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(($(val anchors hs "$n" certgate errors median) + $(val anchors hs_nohints "$n" certgate errors median)))" \
                "$(val anchors hs "$n" nginx errors median)"
        done
        echo "(cg, no CA names: certgate with --client-ca-hints none, same trust and verification)"
    } | show
}

# ---------------------------------------------------------------------------------------------
# 4. HTTP/2, many streams on one connection

# oha_fields FILE: "ok errors rps p50_us p99_us" from oha's JSON output.
oha_fields() {
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
ok = int(codes.get("200", 0))
bad = sum(int(v) for k, v in codes.items() if k != "200")
errs = sum(int(v) for v in d.get("errorDistribution", {}).values())
lat = d.get("latencyPercentiles", {})
total = d["summary"]["total"]
def us(x):
    return "nan" if x is None else "%.0f" % (x * 1e6)
print(ok, bad + errs, "%.1f" % (ok / total if total else 0), us(lat.get("p50")), us(lat.get("p99")))
EOF
}

section_h2() {
    local r p out code ok errs rps p50 p99
    log "h2: HTTP/2, $H2_STREAMS concurrent streams on one connection (oha), $H2_REQUESTS requests"
    start_certgate h2 "${SINGLE_ROUTE[@]}" --trust "$PKI/ca.pem"
    nginx_single_route "$TMP/nginx-h2"
    start_nginx h2 "$PKI/ca.pem" " http2"
    for p in certgate nginx; do
        code=$(curl -sS -o /dev/null -w '%{http_version} %{http_code}' --http2 --max-time 10 \
            --resolve "localhost:${PORT_OF[$p]}:127.0.0.1" --cacert "$PKI/ca.pem" \
            --cert "$PKI/client-ec.pem" --key "$PKI/client-ec.key" \
            "https://localhost:${PORT_OF[$p]}/" 2>>"$TMP/curl.log") || code=000
        [[ $code == "2 200" ]] || { warn "$p answered '$code' over HTTP/2 (expected '2 200')"; exit 1; }
    done
    warmup /
    for ((r = 1; r <= ROUNDS; r++)); do
        for p in $(order_of_round "$r"); do
            log "h2: round $r/$ROUNDS: $p: oha --http2 -c 1 -p $H2_STREAMS -n $H2_REQUESTS"
            out="$TMP/h2-$p-r$r.json"
            # oha's -z aborts the streams in flight at the deadline (counted as errors): -n instead.
            measure "$p" pin "$LOAD_CPU" timeout 300 "$OHA" --http2 -c 1 -p "$H2_STREAMS" -n "$H2_REQUESTS" \
                --no-tui --output-format json -o "$out" --worker-threads 1 --ipv4 \
                --cacert "$PKI/ca.pem" --cert "$PKI/client-ec.pem" --key "$PKI/client-ec.key" \
                "https://localhost:${PORT_OF[$p]}/"
            if ((M_RC != 0)) || [[ ! -s $out ]]; then die "oha failed against $p (exit status $M_RC)"; fi
            read -r ok errs rps p50 p99 < <(oha_fields "$out")
            emit h2 streams "$H2_STREAMS" "$p" "$r" cpu_us_per_req "$(per "$M_CPU_S" "$ok" 1e6)"
            emit h2 streams "$H2_STREAMS" "$p" "$r" req_per_s "$rps"
            emit h2 streams "$H2_STREAMS" "$p" "$r" p50_us "$p50"
            emit h2 streams "$H2_STREAMS" "$p" "$r" p99_us "$p99"
            emit h2 streams "$H2_STREAMS" "$p" "$r" cpu_use_pct "$(per "$M_CPU_S" "$M_WALL_S" 100)"
            emit h2 streams "$H2_STREAMS" "$p" "$r" errors "$errs"
            count_errors "$errs"
        done
    done
    summarize h2 streams "$H2_STREAMS" cpu_us_per_req req_per_s p50_us p99_us cpu_use_pct errors
    stop_proxies
    {
        echo "HTTP/2: $H2_STREAMS concurrent streams on one connection (oha --http2 -c 1 -p $H2_STREAMS -n $H2_REQUESTS), medians of $ROUNDS round(s)"
        printf '%-28s %10s %10s %7s\n' "metric" "certgate" "nginx" "ratio"
        local m label
        for m in cpu_us_per_req:"CPU µs per request" req_per_s:"requests/s" p50_us:"p50 µs" p99_us:"p99 µs" \
            cpu_use_pct:"proxy CPU use %" errors:"errors"; do
            label=${m#*:}
            m=${m%%:*}
            local d=1
            [[ $m == errors || $m == p*_us ]] && d=0
            printf '%-28s %10s %10s %7s\n' "$label" "$(f "$(val h2 streams "$H2_STREAMS" certgate "$m" median)" "$d")" \
                "$(f "$(val h2 streams "$H2_STREAMS" nginx "$m" median)" "$d")" \
                "$(f "$(val h2 streams "$H2_STREAMS" ratio "$m" median)" 2)"
        done
    } | show
}

# ---------------------------------------------------------------------------------------------
# 5. Idle connections

# idle_test PROXY N: RSS before and while holding N idle connections (bench/run.sh's method);
# bench_loadgen holds at most 20,000 and needs a descriptor per connection, so N is split
# over several load generators when needed.
IDLE_PER_LOADGEN=${IDLE_PER_LOADGEN:-10000}
idle_test() {
    local p=$1 n=$2 pid before during i k chunk left=$2 lgs=() outs=() opened=0 errs=0 rc ready
    pid=${PID_OF[$p]}
    alive "$pid" "$p"
    before=$(rss_kb "$pid")
    chunk=$IDLE_PER_LOADGEN
    ((chunk > NOFILE - 100)) && chunk=$((NOFILE - 100))
    ((chunk > 20000)) && chunk=20000
    k=0
    while ((left > 0)); do
        local c=$((left < chunk ? left : chunk))
        outs+=("$TMP/idle-$n-$p-$k.out")
        start_bg "$LOAD_CPU" "${outs[k]}" "$LOADGEN" idle --connect "127.0.0.1:${PORT_OF[$p]}" \
            --ca "$PKI/ca.pem" --cert "$PKI/client-ec.pem" --key "$PKI/client-ec.key" \
            --conns "$c" --hold "$IDLE_HOLD"
        lgs+=("$BG_PID")
        left=$((left - c))
        k=$((k + 1))
    done
    # Every load generator prints READY once its connections are open (then holds them for
    # IDLE_HOLD s): wait for all of them; the first READY must leave time for the others.
    for i in $(seq 1 3000); do
        ready=0
        for ((k = 0; k < ${#lgs[@]}; k++)); do
            grep -q '^READY' "${outs[k]}" && ready=$((ready + 1))
        done
        ((ready == ${#lgs[@]})) && break
        sleep 0.1
        for ((k = 0; k < ${#lgs[@]}; k++)); do
            grep -q '^READY' "${outs[k]}" || kill -0 "${lgs[k]}" 2>/dev/null || break 2
        done
    done
    ((ready == ${#lgs[@]})) || { cat "${outs[@]}" >&2; die "idle load generator never got READY ($p, $n)"; }
    sleep 1 # let the proxy settle
    during=$(rss_kb "$pid")
    for ((k = 0; k < ${#lgs[@]}; k++)); do
        rc=0
        wait "${lgs[k]}" || rc=$?
        ((rc != 2)) || { cat "${outs[k]}" >&2; die "idle load generator failed ($p, $n)"; }
        ((rc == 0)) || { warn "errors during the idle test against $p ($n):"; grep -v '^RESULT\|^READY' "${outs[k]}" | head -n 5 >&2; }
        opened=$((opened + $(sed -n 's/^READY conns=//p' "${outs[k]}")))
        errs=$((errs + $(field errors "${outs[k]}")))
        stop_pid "${lgs[k]}"
    done
    alive "$pid" "$p"
    emit idle held "$n" "$p" 1 rss_before_kb "$before"
    emit idle held "$n" "$p" 1 rss_holding_kb "$during"
    emit idle held "$n" "$p" 1 opened "$opened"
    emit idle held "$n" "$p" 1 bytes_per_conn \
        "$(awk -v a="$before" -v b="$during" -v n="$opened" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "nan" }')"
    emit idle held "$n" "$p" 1 errors "$errs"
    count_errors "$errs"
}

section_idle() {
    local n want_n max=$((NOFILE - 1000)) i=0 p ns=()
    for want_n in $IDLE_COUNTS; do
        n=$want_n
        if ((n > max)); then
            warn "idle: $want_n connections do not fit in ulimit -n $NOFILE (one descriptor per connection in the proxy, plus its upstream connections; 1,000 kept spare): measuring $max"
            n=$max
        fi
        ns+=("$n")
        log "idle: $n idle connections (hold ${IDLE_HOLD}s), fresh proxies"
        # --max-connections: certgate's default (10,000) would hold the rest back.
        start_certgate "idle-$n" "${SINGLE_ROUTE[@]}" --trust "$PKI/ca.pem" --max-connections $((n + 100))
        nginx_single_route "$TMP/nginx-idle-$n"
        # nginx starts closing idle keep-alive connections when fewer than 1/16 of its
        # worker_connections are free ("worker_connections are not enough, reusing
        # connections"): give it room, as an operator holding N connections would. Above the
        # descriptor limit nginx only warns; the descriptors are what bind.
        NGINX_WORKER_CONNECTIONS=$((n * 17 / 16 + 1000 > 16384 ? n * 17 / 16 + 1000 : 16384))
        start_nginx "idle-$n" "$PKI/ca.pem" ""
        NGINX_WORKER_CONNECTIONS=16384
        for p in certgate nginx; do expect_code 200 "$p" /; done
        i=$((i + 1))
        for p in $(order_of_round "$i"); do
            log "idle: $p: $n connections"
            idle_test "$p" "$n"
        done
        emit idle held "$n" certgate 1 requested "$want_n"
        once idle held "$n" bytes_per_conn rss_before_kb rss_holding_kb
        stop_proxies
    done
    {
        echo "Idle mTLS connections (each completed one request, then held): bytes per connection = (RSS holding - RSS before) / connections"
        printf '%-12s | %-28s | %-17s | %-17s | %s\n' "" "bytes per connection" "RSS before MB" "RSS holding MB" "errors"
        printf '%-12s | %10s %10s %6s | %8s %8s | %8s %8s |\n' "connections" "cg" "ng" "ratio" "cg" "ng" "cg" "ng"
        for n in "${ns[@]}"; do
            printf '%-12s | %10s %10s %6s | %8s %8s | %8s %8s | %s/%s\n' "$n" \
                "$(f "$(val idle held "$n" certgate bytes_per_conn 1)" 0)" \
                "$(f "$(val idle held "$n" nginx bytes_per_conn 1)" 0)" \
                "$(f "$(val idle held "$n" ratio bytes_per_conn median)" 2)" \
                "$(f "$(awk -v k="$(val idle held "$n" certgate rss_before_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(f "$(awk -v k="$(val idle held "$n" nginx rss_before_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(f "$(awk -v k="$(val idle held "$n" certgate rss_holding_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(f "$(awk -v k="$(val idle held "$n" nginx rss_holding_kb 1)" 'BEGIN { print k / 1024 }')")" \
                "$(val idle held "$n" certgate errors 1)" "$(val idle held "$n" nginx errors 1)"
        done
        echo "(measured once per count, on fresh proxies)"
    } | show
}

# ---------------------------------------------------------------------------------------------

log "upstream :$UP_PORT (pid $UP_PID, CPU $LOAD_CPU); proxies on CPU $PROXY_CPU, one at a time under load; $NGINX_VERSION; ulimit -n $NOFILE"
T_START=$(date +%s)
for s in "${SECTIONS[@]}"; do
    case $s in
    body) section_body ;;
    routes) section_routes ;;
    anchors) section_anchors ;;
    h2) section_h2 ;;
    idle) section_idle ;;
    esac
done

echo
echo "certgate vs $NGINX_VERSION: how cost grows — proxy on CPU $PROXY_CPU, load generator + upstream on CPU $LOAD_CPU"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); run time $(($(date +%s) - T_START)) s$([[ $SMOKE == 1 ]] && echo '   (SMOKE run: numbers are not meaningful)')"
echo
cat "$TABLES"
echo "results: $RESULTS"

if [[ -n $PLOTS ]]; then
    mkdir -p "$PLOTS"
    python3 "$ROOT/bench/plot.py" "$RESULTS" "$PLOTS" || { warn "bench/plot.py failed"; exit 1; }
fi

if ((ERRORS > 0)); then
    warn "$ERRORS errors in the measurements"
    exit 1
fi
exit 0
