#!/usr/bin/env bash
# certgate vs nginx (same job) vs nginx `stream` (the L4 floor): one run, same machine, same
# certificates, same upstream, same load, two independent clients per kind of load.
#
#   bench/run.sh                     # full run (DURATION seconds per measurement, default 10; 3 rounds)
#   DURATION=30 bench/run.sh         # longer measurements
#   ROUNDS=5 bench/run.sh            # more interleaved rounds (1..20)
#   SHAPES="split chunked" bench/run.sh   # extra keep-alive rows per upstream answer shape
#   SMOKE=1 bench/run.sh             # ~1 s per measurement, 1 round, 50 idle connections: checks that it works
#
# The keep-alive and handshake tests run in ROUNDS rounds; within each round the three proxies
# take turns test by test, in an order that rotates from round to round, and the table shows,
# per proxy and metric, the median over the rounds. The idle-memory test runs once per proxy.
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
    ROUNDS=${ROUNDS:-3}
    IDLE_CONNS=${IDLE_CONNS:-1000}
    IDLE_HOLD=${IDLE_HOLD:-5}
    WARMUP=${WARMUP:-2}
fi
KA_CONNS=${KA_CONNS:-32}
HS_CONCURRENCY=${HS_CONCURRENCY:-16}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KEEP_TMP=${KEEP_TMP:-0}
UPSTREAM_SHAPE=${UPSTREAM_SHAPE:-one}
SHAPES=${SHAPES:-}
# OHA_RATE=N: one more keep-alive row, oha held to N requests/s in all (oha -q): the cost per
# request of a proxy that is not saturated, where every request pays its own wake-ups.
OHA_RATE=${OHA_RATE:-}

die() { echo "run.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DURATION must be a number of seconds"
awk -v d="$DURATION" 'BEGIN { exit !(d > 0 && d <= 600) }' || die "DURATION must be in (0, 600]"
[[ $IDLE_CONNS =~ ^[0-9]+$ ]] && ((IDLE_CONNS >= 1 && IDLE_CONNS <= 10000)) ||
    die "IDLE_CONNS must be in 1..10000"
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((10#$ROUNDS >= 1 && 10#$ROUNDS <= 20)) ||
    die "ROUNDS must be an integer in 1..20"
ROUNDS=$((10#$ROUNDS))
[[ $KA_CONNS =~ ^[0-9]+$ ]] && ((KA_CONNS >= 1 && KA_CONNS <= 1000)) || die "KA_CONNS must be in 1..1000"
[[ $HS_CONCURRENCY =~ ^[0-9]+$ ]] && ((HS_CONCURRENCY >= 1 && HS_CONCURRENCY <= 256)) ||
    die "HS_CONCURRENCY must be in 1..256"
shape_ok() { [[ $1 == one || $1 == split || $1 == chunked ]]; }
shape_ok "$UPSTREAM_SHAPE" || die "UPSTREAM_SHAPE must be one, split or chunked"
# The upstream sets: "base" (UPSTREAM_SHAPE: every test) and one per extra shape in SHAPES
# (keep-alive rows only). Each set has its own upstream and its own three proxies.
EXTRA_SHAPES=()
for s in $SHAPES; do
    shape_ok "$s" || die "SHAPES: '$s' is not one of one, split, chunked"
    if [[ $s == "$UPSTREAM_SHAPE" || " ${EXTRA_SHAPES[*]} " == *" $s "* ]]; then
        log "SHAPES: '$s' is already measured, skipped"
        continue
    fi
    EXTRA_SHAPES+=("$s")
done
[[ -z $OHA_RATE || ($OHA_RATE =~ ^[0-9]+$ && OHA_RATE -ge 100 && OHA_RATE -le 1000000) ]] ||
    die "OHA_RATE must be a number of requests per second in 100..1000000"
SETS=(base "${EXTRA_SHAPES[@]}")
declare -A SHAPE_OF=([base]=$UPSTREAM_SHAPE)
for s in "${EXTRA_SHAPES[@]}"; do SHAPE_OF[$s]=$s; done

# Rough run time: per round, (7 + 2 per extra shape) tests x 3 proxies x DURATION (s_time
# rounds DURATION up to whole seconds, oha takes ~0.3 s to start), plus warm-up, the idle test
# (hold + settle, per proxy) and about 10 s of set-up. The build is not included.
NTESTS=$((7 + 2 * ${#EXTRA_SHAPES[@]}))
[[ -z $OHA_RATE ]] || NTESTS=$((NTESTS + 1))
EXPECTED_S=$(awk -v r="$ROUNDS" -v d="$DURATION" -v w="$WARMUP" -v h="$IDLE_HOLD" \
    -v t="$NTESTS" -v s="${#SETS[@]}" \
    'BEGIN { ds = (d == int(d)) ? d : int(d) + 1
             printf "%.0f", r * 3 * ((t - 1) * d + ds + 0.5 + 0.3 * (1 + s)) + 3 * s * w + 3 * (h + 2) + 10 }')
log "expected run time: about ${EXPECTED_S} s ($ROUNDS round(s) x $NTESTS tests x 3 proxies x ${DURATION} s, plus warm-up, idle test and set-up; build not included)"

CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)

# ---------------------------------------------------------------------------------------------
# Processes and clean-up

TMP=$(mktemp -d "${TMPDIR:-/tmp}/certgate-bench.XXXXXX")
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cleanup() {
    local rc=$?
    trap - INT TERM
    stop_started run.sh
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PIN=1
command -v taskset >/dev/null || { echo "run.sh: taskset not found, not pinning" >&2; PIN=0; }
if ((NCPU < 2)); then
    echo "run.sh: only $NCPU CPU: proxy and load share CPU 0 (numbers are not meaningful)" >&2
    PROXY_CPU=0
    LOAD_CPU=0
fi
# pin and start_bg come from bench/lib.sh.


# /proc readings (proc_tree, cpu_ticks, rss_kb) come from bench/lib.sh.
alive() { kill -0 "$1" 2>/dev/null || { echo "run.sh: $2 (pid $1) is gone; see $TMP/$2.log" >&2; exit 1; }; }

# field KEY FILE: value of KEY=... in the RESULT line of FILE
field() { grep '^RESULT ' "$2" | tail -n1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# ---------------------------------------------------------------------------------------------
# Build, nginx (+ stream module), oha, openssl, PKI

release_binaries

SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo
APT_UPDATED=0
apt_install() { # PACKAGE...: the first one that installs
    local p
    if [[ $APT_UPDATED == 0 ]]; then
        $SUDO apt-get update >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    for p in "$@"; do
        $SUDO apt-get install -y "$p" >&2 && return 0
    done
    return 1
}
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
if [[ -z $NGINX ]]; then
    log "nginx not found: installing it from Debian packages"
    apt_install nginx-light nginx || die "cannot install nginx"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
if [[ ! -f $STREAM_MODULE ]]; then
    log "$STREAM_MODULE not found: installing libnginx-mod-stream from Debian packages"
    apt_install libnginx-mod-stream || die "cannot install libnginx-mod-stream"
    [[ -f $STREAM_MODULE ]] || die "libnginx-mod-stream did not install $STREAM_MODULE"
fi
OHA=$(command -v oha || true)
[[ -z $OHA && -x $HOME/.cargo/bin/oha ]] && OHA=$HOME/.cargo/bin/oha
if [[ -z $OHA ]]; then
    log "oha not found: installing it with 'cargo install oha --locked' (a few minutes)"
    cargo install oha --locked >&2 || die "cargo install oha failed"
    OHA=$HOME/.cargo/bin/oha
fi
OHA_VERSION=$("$OHA" --version | head -n1)
command -v openssl >/dev/null || die "openssl is missing (the second handshake client is openssl s_time)"
OPENSSL_VERSION=$(openssl version | cut -d' ' -f1-2)
if ! command -v jq >/dev/null; then
    log "jq not found (it reads oha's JSON output): installing it from Debian packages"
    apt_install jq || die "cannot install jq"
fi

# Enough file descriptors for the idle test (loadgen and the proxies inherit this).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
(($(ulimit -n) > IDLE_CONNS * 2 + 100)) || die "ulimit -n $(ulimit -n) is too low for $IDLE_CONNS idle connections"

# Root -> intermediate -> leaf on both sides; the proxies trust only the root (ca.pem), the
# clients send leaf + intermediate (client-*.pem), the proxies send leaf + intermediate.
PKI="$TMP/pki"
"$LOADGEN" pki --dir "$PKI" >/dev/null
SUBJECT="CN=bench-client,O=Bench Inc,C=US"
# openssl s_time loads only the first certificate of -cert; OpenSSL then builds the chain it
# sends from its verify store, so its -CAfile holds the root and the client intermediate.
cat "$PKI/ca.pem" "$PKI/client-intermediate.pem" >"$PKI/ca+client-intermediate.pem"

# ---------------------------------------------------------------------------------------------
# Start the upstreams and the proxies: one set (upstream, certgate, nginx, nginx-stream) per
# upstream shape. The set "base" serves every test; the SHAPES sets only their keep-alive rows.

PROXIES=(certgate nginx stream)
declare -A LABEL=([certgate]=certgate [nginx]=nginx [stream]=nginx-stream)
declare -A PID_OF PORT_OF # [proxy@set]

# nginx_conf TEMPLATE DIR PORT UPSTREAM_PORT: write DIR/nginx.conf, check it with nginx -t.
nginx_conf() {
    local tmpl=$1 dir=$2 port=$3 up=$4
    mkdir -p "$dir"
    sed -e "s|@TMP@|$dir|g" -e "s|@PKI@|$PKI|g" \
        -e "s|@UPSTREAM_PORT@|$up|g" -e "s|@NGINX_PORT@|$port|g" \
        "$tmpl" >"$dir/nginx.conf"
    "$NGINX" -t -q -p "$dir" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" \
        >"$dir.check.log" 2>&1 || { cat "$dir.check.log" >&2; die "nginx -t failed for $dir/nginx.conf"; }
}

start_set() { # SET
    local set=$1 up port name
    up=$(free_port)
    name=upstream-$set
    start_bg "$LOAD_CPU" "$TMP/$name.log" "$UPSTREAM" --listen "127.0.0.1:$up" --shape "${SHAPE_OF[$set]}"
    wait_port "$up" "$BG_PID" "$name"
    expect_exe "$BG_PID" "$UPSTREAM" "$name"
    log "$name: shape ${SHAPE_OF[$set]}, :$up (pid $BG_PID, CPU $LOAD_CPU)"

    # certgate logs one access line per request at info; nginx runs with access_log off, so
    # certgate runs with RUST_LOG=warn to compare the proxying work, not the logging.
    port=$(free_port)
    name=certgate-$set
    start_bg "$PROXY_CPU" "$TMP/$name.log" env RUST_LOG=warn "$CERTGATE" run \
        --listen "127.0.0.1:$port" \
        --admin-listen off \
        --server-cert "$PKI/server.pem" \
        --server-key "$PKI/server.key" \
        --trust "$PKI/ca.pem" \
        --upstream "http://127.0.0.1:$up" \
        --route b=/ \
        --allow "b=subject:$SUBJECT"
    wait_port "$port" "$BG_PID" "$name"
    expect_exe "$BG_PID" "$CERTGATE" "$name"
    PID_OF[certgate@$set]=$BG_PID
    PORT_OF[certgate@$set]=$port

    local p tmpl
    for p in nginx stream; do
        port=$(free_port)
        name=$p-$set
        tmpl=$ROOT/bench/nginx.conf.tmpl
        [[ $p == stream ]] && tmpl=$ROOT/bench/nginx-stream.conf.tmpl
        nginx_conf "$tmpl" "$TMP/$name" "$port" "$up"
        start_bg "$PROXY_CPU" "$TMP/$name.log" "$NGINX" -p "$TMP/$name" \
            -e "$TMP/$name/nginx-error.log" -c "$TMP/$name/nginx.conf"
        wait_port "$port" "$BG_PID" "$name"
        expect_exe "$BG_PID" "$NGINX" "$name"
        PID_OF[$p@$set]=$BG_PID
        PORT_OF[$p@$set]=$port
    done
    log "set $set: certgate :${PORT_OF[certgate@$set]} (pid ${PID_OF[certgate@$set]}), nginx :${PORT_OF[nginx@$set]} (pid ${PID_OF[nginx@$set]}), nginx-stream :${PORT_OF[stream@$set]} (pid ${PID_OF[stream@$set]}), all on CPU $PROXY_CPU"
}
for set in "${SETS[@]}"; do
    start_set "$set"
done

# ---------------------------------------------------------------------------------------------
# Sanity: every proxy answers 200 to the bench client (EC and RSA chains) and refuses a client
# without a certificate (nginx-stream, which has no HTTP layer, by failing the handshake).

FAILED=0
check_proxy() { # PROXY SET
    local p=$1 set=$2 port=${PORT_OF[$1@$2]} kind code
    for kind in ec rsa; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
            --resolve "localhost:$port:127.0.0.1" --cacert "$PKI/ca.pem" \
            --cert "$PKI/client-$kind.pem" --key "$PKI/client-$kind.key" \
            "https://localhost:$port/" 2>>"$TMP/curl.log") || code=000
        if [[ $code != 200 ]]; then
            echo "run.sh: ${LABEL[$p]} ($set) answered $code to the bench client ($kind)" >&2
            FAILED=1
        fi
    done
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
        --resolve "localhost:$port:127.0.0.1" --cacert "$PKI/ca.pem" \
        "https://localhost:$port/" 2>>"$TMP/curl.log") || code=000
    if [[ $code == 200 || ($p == stream && $code != 000) ]]; then
        echo "run.sh: ${LABEL[$p]} ($set) answered $code to a client without a certificate" >&2
        FAILED=1
    fi
    # The s_time set-up (leaf from -cert, chain built from -CAfile) must pass verification: a
    # failed one would still get bytes back from nginx (its 400 page). s_time only counts the
    # bytes it reads, so remember the size of the 200 answer to check every s_time run against.
    local resp
    resp=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 5 openssl s_client -quiet \
        -connect "127.0.0.1:$port" -cert "$PKI/client-ec.pem" -key "$PKI/client-ec.key" \
        -CAfile "$PKI/ca+client-intermediate.pem" 2>>"$TMP/s_client.log") || true
    if [[ $resp != "HTTP/1."[01]" 200 "* ]]; then
        echo "run.sh: ${LABEL[$p]} ($set) did not answer 200 to openssl s_client with the s_time set-up: ${resp%%$'\r'*}" >&2
        FAILED=1
    fi
    STIME_BYTES[$p@$set]=${#resp}
}
declare -A STIME_BYTES
for set in "${SETS[@]}"; do
    for p in "${PROXIES[@]}"; do
        check_proxy "$p" "$set"
    done
done
if [[ $FAILED != 0 ]]; then
    tail -n 20 "$TMP"/certgate-*.log "$TMP"/nginx-*/nginx-error.log "$TMP"/stream-*/nginx-error.log "$TMP/curl.log" >&2 || true
    exit 1
fi
log "all proxies answer 200 to the bench client (EC and RSA) and refuse anonymous clients"

# ---------------------------------------------------------------------------------------------
# Clients. Each writes a file whose last line is `RESULT ok=N errors=N rps=|hps=R p50_us=.. p99_us=..`
# (bench_loadgen's own line; oha's JSON and s_time's text are turned into one). They return 0
# also when some requests failed (the errors are counted); a client that cannot run at all
# stops the script.

# client_loadgen PORT OUT MODE KIND ARGS...: bench_loadgen pinned to LOAD_CPU.
client_loadgen() {
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

# client_oha PORT OUT [RATE|- [OHA_ARGS...]]: oha, KA_CONNS keep-alive connections for DURATION
# (at RATE requests/s in all when given), pinned to LOAD_CPU
# with one tokio worker thread (its default is one per physical core, and taskset pins every
# thread it starts anyway). -w lets the requests in flight at the deadline finish instead of
# counting them as "aborted due to deadline" errors. --connect-to sends localhost:PORT to
# 127.0.0.1 (the proxies listen on IPv4 loopback only) while SNI and the name checked stay
# localhost.
client_oha() {
    local port=$1 out=$2 rate=${3:--} ms rc=0 limit=()
    shift $(($# < 3 ? $# : 3))
    ms=$(awk -v d="$DURATION" 'BEGIN { printf "%d", d * 1000 }')
    [[ $rate != - ]] && limit=(-q "$rate")
    pin "$LOAD_CPU" "$OHA" --no-tui -c "$KA_CONNS" -z "${ms}ms" -w --worker-threads 1 "${limit[@]}" "$@" \
        --connect-to "localhost:$port:127.0.0.1:$port" \
        --cacert "$PKI/ca.pem" --cert "$PKI/client-ec.pem" --key "$PKI/client-ec.key" \
        --output-format json -o "$out.json" "https://localhost:$port/" \
        >"$out.err" 2>&1 || rc=$?
    if ((rc != 0)) || [[ ! -s $out.json ]]; then
        cat "$out.err" >&2
        die "oha failed against port $port (exit $rc)"
    fi
    # ok: 200 answers; errors: other statuses + connection/TLS/timeout errors; latencies in s.
    jq -r --arg conns "$KA_CONNS" '
        ((.statusCodeDistribution["200"] // 0)) as $ok
        | (([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add) // 0) as $bad
        | (([.errorDistribution | to_entries[] | .value] | add) // 0) as $err
        | "RESULT mode=oha conns=\($conns) ok=\($ok) errors=\($bad + $err) rps=\(.summary.requestsPerSec * 10 | round / 10) p50_us=\((.latencyPercentiles.p50 // 0) * 1e6 | round) p99_us=\((.latencyPercentiles.p99 // 0) * 1e6 | round)"
    ' "$out.json" >"$out" || die "cannot read oha's JSON output $out.json"
    if ! grep -q ' errors=0 ' "$out"; then
        echo "run.sh: errors during oha against port $port: $(jq -c '.errorDistribution, .statusCodeDistribution' "$out.json" | tr '\n' ' ')" >&2
    fi
}

# client_stime PORT OUT BYTES: HS_CONCURRENCY copies of `openssl s_time -new` (full handshakes, one
# HTTP/1.0 GET per connection), pinned to LOAD_CPU, for DURATION rounded up to whole seconds;
# their connection counts are summed. s_time stops at its first failed connection (exit 1):
# such a copy counts as one error.
client_stime() {
    local port=$1 out=$2 expect=$3 secs i pids=() rc ok=0 errors=0 n bytes t0 t1
    t0=$(date +%s.%N)
    secs=$(awk -v d="$DURATION" 'BEGIN { s = int(d); if (s < d) s++; if (s < 1) s = 1; print s }')
    for ((i = 0; i < HS_CONCURRENCY; i++)); do
        pin "$LOAD_CPU" openssl s_time -connect "127.0.0.1:$port" -new \
            -cert "$PKI/client-ec.pem" -key "$PKI/client-ec.key" \
            -CAfile "$PKI/ca+client-intermediate.pem" -www / -time "$secs" \
            >"$out.$i" 2>&1 &
        pids+=($!)
    done
    for ((i = 0; i < HS_CONCURRENCY; i++)); do
        rc=0
        wait "${pids[$i]}" || rc=$?
        # "N connections in S real seconds, B bytes read per connection"
        n=$(sed -n 's/^\([0-9]*\) connections in [0-9]* real seconds.*/\1/p' "$out.$i")
        bytes=$(sed -n 's/.* real seconds, \([0-9]*\) bytes read per connection.*/\1/p' "$out.$i")
        if ((rc != 0)) || [[ -z $n ]]; then
            errors=$((errors + 1))
            ((errors > 1)) || { echo "run.sh: openssl s_time failed against port $port:" >&2; tail -n 5 "$out.$i" >&2; }
        else
            ok=$((ok + n))
            # An answer other than the 200 seen in the sanity check (a 400 or 403 page, nothing)
            # shows in the bytes read per connection (s_time rounds the mean down).
            if ((n > 0 && (bytes < expect - 4 || bytes > expect + 4))); then
                errors=$((errors + n))
                echo "run.sh: openssl s_time read $bytes bytes per connection from port $port, the 200 answer has $expect" >&2
            fi
        fi
    done
    # s_time runs until its -time has passed in whole seconds of time(): between secs and
    # secs + 1 s of wall time, so the rate is over the measured wall time.
    t1=$(date +%s.%N)
    echo "RESULT mode=s_time copies=$HS_CONCURRENCY seconds=$secs wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') ok=$ok errors=$errors hps=$(awk -v n="$ok" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }') p50_us=- p99_us=-" >"$out"
}

# ---------------------------------------------------------------------------------------------
# Measurements

RAW="$TMP/results.txt"
: >"$RAW"
RESULTS=${RESULTS:-$TMP/results.tsv}
mkdir -p "$(dirname "$RESULTS")"
{
    printf '# bench/run.sh %s; %s; %s; %s; proxy CPU %s, load CPU %s; DURATION=%s ROUNDS=%s KA_CONNS=%s HS_CONCURRENCY=%s IDLE_CONNS=%s UPSTREAM_SHAPE=%s SHAPES=%s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$NGINX_VERSION" "$OHA_VERSION" "$OPENSSL_VERSION" "$PROXY_CPU" "$LOAD_CPU" \
        "$DURATION" "$ROUNDS" "$KA_CONNS" "$HS_CONCURRENCY" "$IDLE_CONNS" "$UPSTREAM_SHAPE" "${EXTRA_SHAPES[*]:-}"
    printf 'round\tproxy\ttest\tclient\tcert\tshape\tok\terrors\tproxy_cpu_ticks\twall_s\tcpu_us_per_op\trate_per_s\tp50_us\tp99_us\tproxy_cpu_use_pct\trss_before_kb\trss_holding_kb\tbytes_per_conn\n'
} >"$RESULTS"
declare -A R # R[proxy.tag.metric(.rROUND)]=value

# measure PROXY SET TAG ROUND CERT CLIENT ARGS...: proxy CPU time around one client run.
# Per-round values go to R[PROXY.TAG.METRIC.rROUND]; the medians are computed after all rounds.
measure() {
    local p=$1 set=$2 tag=$3 round=$4 cert=$5 client=$6
    shift 6
    local inst="$p-$set" pid=${PID_OF[$p@$set]} port=${PORT_OF[$p@$set]}
    local out="$TMP/$p-$tag-r$round.out" c0 c1 t0 t1 ticks cpu_s wall_s ok k
    alive "$pid" "$inst"
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    "$client" "$port" "$out" "$@"
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "$pid")
    alive "$pid" "$inst"
    ticks=$((c1 - c0))
    cpu_s=$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.4f", t / hz }')
    wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    ok=$(field ok "$out")
    k="$p.$tag"
    R[$k.cpu_us_per.r$round]=$(awk -v s="$cpu_s" -v n="${ok:-0}" \
        'BEGIN { if (n > 0) printf "%.2f", s * 1e6 / n; else print "nan" }')
    R[$k.util.r$round]=$(awk -v s="$cpu_s" -v w="$wall_s" 'BEGIN { printf "%.1f", 100 * s / w }')
    R[$k.ok.r$round]=$ok
    R[$k.errors.r$round]=$(field errors "$out")
    R[$k.p50.r$round]=$(field p50_us "$out")
    R[$k.p99.r$round]=$(field p99_us "$out")
    R[$k.rate.r$round]=$(field rps "$out")$(field hps "$out")
    echo "round $round ${LABEL[$p]} $tag proxy_cpu_ticks=$ticks wall_s=$(awk -v w="$wall_s" 'BEGIN { printf "%.3f", w }') cpu_us_per_op=${R[$k.cpu_us_per.r$round]} proxy_cpu_use=${R[$k.util.r$round]}% $(grep '^RESULT ' "$out" | tail -n1)" >>"$RAW"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t-\t-\n' \
        "$round" "${LABEL[$p]}" "${TEST_OF[$tag]}" "${CLIENT_OF[$tag]}" "$cert" "${SHAPE_OF[$set]}" \
        "$ok" "${R[$k.errors.r$round]}" "$ticks" "$wall_s" "${R[$k.cpu_us_per.r$round]}" \
        "${R[$k.rate.r$round]}" "${R[$k.p50.r$round]}" "${R[$k.p99.r$round]}" "${R[$k.util.r$round]}" >>"$RESULTS"
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

# idle_test PROXY: RSS before and while holding IDLE_CONNS idle connections (base set).
idle_test() {
    local p=$1 pid=${PID_OF[$1@base]} port=${PORT_OF[$1@base]}
    # stdout (READY, RESULT) and stderr (error messages) of the load generator share one file.
    local out="$TMP/$p-idle.out" before during lg i opened rc=0
    alive "$pid" "$p-base"
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
    grep -q '^READY' "$out" || { cat "$out" >&2; die "idle load generator never got READY (${LABEL[$p]})"; }
    sleep 1 # let the proxy settle
    during=$(rss_kb "$pid")
    wait "$lg" || rc=$?
    ((rc != 2)) || { cat "$out" >&2; die "idle load generator failed (${LABEL[$p]})"; }
    ((rc == 0)) || { echo "run.sh: errors during idle test against ${LABEL[$p]}:" >&2; grep -v '^RESULT\|^READY' "$out" | head -n 5 >&2; }
    opened=$(sed -n 's/^READY conns=//p' "$out")
    echo "${LABEL[$p]} idle rss_before_kb=$before rss_holding_kb=$during $(grep '^RESULT ' "$out")" >>"$RAW"
    R[$p.idle.before_kb]=$before
    R[$p.idle.during_kb]=$during
    R[$p.idle.bytes_per_conn]=$(awk -v a="$before" -v b="$during" -v n="${opened:-0}" \
        'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "nan" }')
    R[$p.idle.errors]=$(field errors "$out")
    printf '%s\t%s\tidle\tbench_loadgen\tec\t%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t%s\t%s\t%s\n' \
        - "${LABEL[$p]}" "${SHAPE_OF[base]}" "${opened:-0}" "${R[$p.idle.errors]}" \
        "$before" "$during" "${R[$p.idle.bytes_per_conn]}" >>"$RESULTS"
}

# The tests of one round, in order: TAG SET CERT CLIENT ARGS... (ARGS after the client's own
# PORT OUT). TEST_OF / CLIENT_OF name them in the results file.
declare -A TEST_OF=([ka]=keepalive [oha]=keepalive [hs_ec]=handshake [hs_rsa]=handshake [st_ec]=handshake
    [post]=keepalive-post [oha_post]=keepalive-post)
declare -A CLIENT_OF=([ka]=bench_loadgen [oha]=oha [hs_ec]=bench_loadgen [hs_rsa]=bench_loadgen [st_ec]=s_time
    [post]=bench_loadgen [oha_post]=oha)
# The webhook body: 1 KB of JSON, as a signing service sends an event.
WEBHOOK=$TMP/webhook.json
{
    printf '{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/0f2c/envelopes/7f3c",'
    printf '"retryCount":0,"configurationId":10004,"generatedDateTime":"2026-12-01T10:00:00.0000000Z",'
    printf '"data":{"accountId":"0f2c","userId":"8a1d","envelopeId":"7f3c1a2b-0000-4000-8000-000000000000","note":"'
    printf 'x%.0s' $(seq 700)
    printf '"}}'
} >"$WEBHOOK"
TESTS=(
    "ka base ec client_loadgen keepalive ec --conns $KA_CONNS --duration $DURATION"
    "oha base ec client_oha"
    "hs_ec base ec client_loadgen handshake ec --concurrency $HS_CONCURRENCY --duration $DURATION"
    "hs_rsa base rsa client_loadgen handshake rsa --concurrency $HS_CONCURRENCY --duration $DURATION"
    "st_ec base ec client_stime" # the expected answer size is added in the loop below
    # A webhook: a 1 KB JSON POST, the traffic certgate is for.
    "post base ec client_loadgen keepalive ec --conns $KA_CONNS --duration $DURATION --body-file $WEBHOOK --header Content-Type:application/json"
    "oha_post base ec client_oha - -m POST -D $WEBHOOK -T application/json"
)
if [[ -n $OHA_RATE ]]; then
    TESTS+=("oha_rate base ec client_oha $OHA_RATE")
    TEST_OF[oha_rate]=keepalive
    CLIENT_OF[oha_rate]=oha
fi
for s in "${EXTRA_SHAPES[@]}"; do
    TESTS+=("ka_$s $s ec client_loadgen keepalive ec --conns $KA_CONNS --duration $DURATION")
    TESTS+=("oha_$s $s ec client_oha")
    TEST_OF[ka_$s]=keepalive
    TEST_OF[oha_$s]=keepalive
    CLIENT_OF[ka_$s]=bench_loadgen
    CLIENT_OF[oha_$s]=oha
done
declare -A DESCR=([ka]="keep-alive (bench_loadgen), $KA_CONNS connections"
    [oha]="keep-alive (oha), $KA_CONNS connections"
    [hs_ec]="full handshakes (bench_loadgen), EC client certificate, $HS_CONCURRENCY workers"
    [hs_rsa]="full handshakes (bench_loadgen), RSA client certificate, $HS_CONCURRENCY workers"
    [st_ec]="full handshakes (openssl s_time), EC client certificate, $HS_CONCURRENCY copies"
    [post]="keep-alive 1 KB JSON POSTs (bench_loadgen), $KA_CONNS connections"
    [oha_post]="keep-alive 1 KB JSON POSTs (oha), $KA_CONNS connections")
DESCR[oha_rate]="keep-alive (oha), $KA_CONNS connections, ${OHA_RATE:-?} requests/s in all"
for s in "${EXTRA_SHAPES[@]}"; do
    DESCR[ka_$s]="keep-alive (bench_loadgen), upstream shape $s, $KA_CONNS connections"
    DESCR[oha_$s]="keep-alive (oha), upstream shape $s, $KA_CONNS connections"
done

# Idle memory first, on processes that have served only the sanity checks.
for p in "${PROXIES[@]}"; do
    log "${LABEL[$p]}: $IDLE_CONNS idle connections (hold ${IDLE_HOLD}s)"
    idle_test "$p"
done

if [[ $WARMUP != 0 ]]; then
    for set in "${SETS[@]}"; do
        for p in "${PROXIES[@]}"; do
            log "${LABEL[$p]} ($set): warm-up (${WARMUP}s)"
            client_loadgen "${PORT_OF[$p@$set]}" "$TMP/$p-$set-warmup.out" keepalive ec \
                --conns "$KA_CONNS" --duration "$WARMUP"
        done
    done
fi

# The proxies are measured one after the other, test by test, in ROUNDS rounds; the order of
# the three rotates from one round to the next (round 1: certgate, nginx, nginx-stream; round 2:
# nginx, nginx-stream, certgate; round 3: nginx-stream, certgate, nginx; ...), so that none
# always goes first and a burst of background noise is unlikely to hit one proxy in every
# round. The table shows medians over the rounds.
for ((round = 1; round <= ROUNDS; round++)); do
    ORDER=()
    for ((i = 0; i < 3; i++)); do
        ORDER+=("${PROXIES[$(((round - 1 + i) % 3))]}")
    done
    for t in "${TESTS[@]}"; do
        # shellcheck disable=SC2086 # the test's words are split on purpose
        set -- $t
        tag=$1 set=$2 cert=$3
        shift 3
        for p in "${ORDER[@]}"; do
            log "round $round/$ROUNDS: ${LABEL[$p]}: ${DESCR[$tag]}, ${DURATION}s"
            if [[ $tag == st_ec ]]; then
                measure "$p" "$set" "$tag" "$round" "$cert" "$@" "${STIME_BYTES[$p@$set]}"
            else
                measure "$p" "$set" "$tag" "$round" "$cert" "$@"
            fi
        done
    done
done

# ---------------------------------------------------------------------------------------------
# Report

TAGS=()
for t in "${TESTS[@]}"; do TAGS+=("${t%% *}"); done
# Medians over the rounds of the per-round values (CPU µs per request/handshake, rate, p50, p99,
# CPU use); errors are summed over the rounds.
declare -A MEDIAN_FMT=([cpu_us_per]=%.1f [rate]=%.1f [p50]=%.0f [p99]=%.0f [util]=%.0f%%)
declare -A RATIO # RATIO[OTHER.TAG.METRIC]=median of the per-round certgate / OTHER ratios
for p in "${PROXIES[@]}"; do
    errs=${R[$p.idle.errors]:-0}
    for tag in "${TAGS[@]}"; do
        for m in "${!MEDIAN_FMT[@]}"; do
            vals=()
            for ((round = 1; round <= ROUNDS; round++)); do
                vals+=("${R[$p.$tag.$m.r$round]:-}")
            done
            R[$p.$tag.$m]=$(median "${MEDIAN_FMT[$m]}" "${vals[@]}")
            [[ ${R[$p.$tag.$m]} == nan ]] && R[$p.$tag.$m]=-
        done
        e=0
        for ((round = 1; round <= ROUNDS; round++)); do
            e=$((e + ${R[$p.$tag.errors.r$round]:-0}))
        done
        R[$p.$tag.errors]=$e
        errs=$((errs + e))
    done
    R[$p.errors]=$errs
done
# round_ratio OTHER KEY ROUND: certgate / OTHER of KEY's values in ROUND ("-" when missing).
round_ratio() {
    awk -v a="${R[certgate.$2.r$3]:-}" -v b="${R[$1.$2.r$3]:-}" \
        'BEGIN { if (b + 0 > 0 && a ~ /^[0-9.]+$/) printf "%.4f", a / b; else print "-" }'
}
# The ratio of a round-based metric is the median of its per-round ratios: the proxies run
# back to back in each round, so a round's ratio compares them under the same machine noise
# (a paired comparison), which the ratio of two medians taken from different rounds does not.
for other in nginx stream; do
    for tag in "${TAGS[@]}"; do
        for m in "${!MEDIAN_FMT[@]}"; do
            ratios=()
            for ((round = 1; round <= ROUNDS; round++)); do
                ratios+=("$(round_ratio "$other" "$tag.$m" "$round")")
            done
            RATIO[$other.$tag.$m]=$(median %.2f "${ratios[@]}")
        done
    done
done

MISSED=0
# ratio OTHER KEY: the median per-round ratio, or for once-measured values the plain quotient.
ratio() {
    local r=${RATIO[$1.$2]:-}
    if [[ -n $r && $r != nan ]]; then
        echo "$r"
    else
        awk -v a="${R[certgate.$2]%\%}" -v b="${R[$1.$2]%\%}" \
            'BEGIN { if (b + 0 > 0 && a ~ /^[0-9.]+$/) printf "%.2f", a / b; else print "-" }'
    fi
}
# le RATIO TARGET: ok / MISS / ?
le() {
    if [[ $1 == - ]]; then
        echo "?"
    elif awk -v r="$1" -v t="$2" 'BEGIN { exit !(r <= t) }'; then
        echo ok
    else
        echo MISS
    fi
}
# row LABEL KEY NGINX_TARGET STREAM_TARGET: a target "-" is none, "zero" means certgate = 0.
FMT='%-56s %9s %9s %9s %6s %6s  %-22s %s\n'
row() {
    local label=$1 key=$2 tn=$3 ts=$4
    local a=${R[certgate.$key]:--} b=${R[nginx.$key]:--} c=${R[stream.$key]:--}
    local rn rs verdict="" tgt="" v
    rn=$(ratio nginx "$key")
    rs=$(ratio stream "$key")
    if [[ $tn == zero ]]; then
        tgt="certgate = 0"
        if [[ $a == 0 ]]; then verdict=ok; else verdict=MISS; fi
    else
        if [[ $tn != - ]]; then
            tgt="<= $tn"
            verdict=$(le "$rn" "$tn")
        fi
        if [[ $ts != - ]]; then
            tgt+="${tgt:+, }<= $ts stream"
            v=$(le "$rs" "$ts")
            if [[ -z $verdict || $verdict == ok ]]; then verdict=$v; elif [[ $v == MISS ]]; then verdict=MISS; fi
        fi
    fi
    [[ $verdict == MISS ]] && MISSED=1
    # shellcheck disable=SC2059 # FMT is the table's format
    printf "$FMT" "$label" "$a" "$b" "$c" "$rn" "$rs" "$tgt" "$verdict"
}
# by_round LABEL OTHER KEY: the certgate / OTHER ratio of KEY in each round.
by_round() {
    local label=$1 other=$2 key=$3 round ratios=""
    for ((round = 1; round <= ROUNDS; round++)); do
        ratios+=" $(round_ratio "$other" "$key" "$round" | awk '{ if ($1 == "-") print "-"; else printf "%.2f", $1 }')"
    done
    printf '%-52s%s\n' "$label by round:" "$ratios"
}
ka_rows() { # TAG WHAT
    row "CPU µs per keep-alive request ($2)" "$1.cpu_us_per" 0.6 1.0
    row "keep-alive req/s ($2)" "$1.rate" - -
    row "keep-alive p50 µs ($2)" "$1.p50" - -
    row "keep-alive p99 µs ($2)" "$1.p99" 1.0 -
    row "proxy CPU use, keep-alive ($2)" "$1.util" - -
}

echo
echo "certgate vs $NGINX_VERSION (http, same job) vs nginx-stream (L4 mTLS tunnel) — proxies on CPU $PROXY_CPU, clients + upstream on CPU $LOAD_CPU"
echo "duration ${DURATION}s per measurement, $ROUNDS interleaved round(s): values are medians over the rounds, ratios (certgate/nginx,"
echo "certgate/stream) the medians of the per-round ratios (the three proxies measured back to back in each round)"
echo "keep-alive: $KA_CONNS connections, bench_loadgen and $OHA_VERSION; handshakes: $HS_CONCURRENCY workers, TLS 1.3, X25519, no resumption,"
echo "bench_loadgen and $OPENSSL_VERSION s_time (EC); idle: $IDLE_CONNS connections; upstream shape $UPSTREAM_SHAPE${EXTRA_SHAPES[*]:+, extra keep-alive shapes: ${EXTRA_SHAPES[*]}}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)$( [[ $SMOKE == 1 ]] && echo '   (SMOKE run: numbers are not meaningful)')"
echo
# shellcheck disable=SC2059
printf "$FMT" "metric" "certgate" "nginx" "stream" "cg/ngx" "cg/str" "target" ""
# shellcheck disable=SC2059
printf "$FMT" "------" "--------" "-----" "------" "------" "------" "------" ""
ka_rows ka bench_loadgen
ka_rows oha oha
if [[ -n $OHA_RATE ]]; then
    row "CPU µs per keep-alive request (oha, $OHA_RATE/s)" oha_rate.cpu_us_per - -
    row "keep-alive p99 µs (oha, $OHA_RATE/s)" oha_rate.p99 - -
fi
row "CPU µs per 1 KB POST (bench_loadgen)" post.cpu_us_per 0.6 1.0
row "1 KB POST p99 µs (bench_loadgen)" post.p99 1.0 -
row "CPU µs per 1 KB POST (oha)" oha_post.cpu_us_per 0.6 1.0
row "1 KB POST p99 µs (oha)" oha_post.p99 1.0 -
for s in "${EXTRA_SHAPES[@]}"; do
    row "CPU µs per keep-alive request (bench_loadgen, $s)" "ka_$s.cpu_us_per" 0.6 1.0
    row "keep-alive p99 µs (bench_loadgen, $s)" "ka_$s.p99" 1.0 -
    row "CPU µs per keep-alive request (oha, $s)" "oha_$s.cpu_us_per" 0.6 1.0
    row "keep-alive p99 µs (oha, $s)" "oha_$s.p99" 1.0 -
done
row "CPU µs per handshake+request (EC)" hs_ec.cpu_us_per 0.40 -
row "handshakes/s (EC)" hs_ec.rate - -
row "handshake p50 µs (EC)" hs_ec.p50 - -
row "handshake p99 µs (EC)" hs_ec.p99 1.0 -
row "proxy CPU use, handshakes (EC)" hs_ec.util - -
row "CPU µs per handshake+request (RSA)" hs_rsa.cpu_us_per 0.40 -
row "handshakes/s (RSA)" hs_rsa.rate - -
row "handshake p99 µs (RSA)" hs_rsa.p99 1.0 -
row "CPU µs per handshake+request (s_time, EC)" st_ec.cpu_us_per 0.40 -
row "handshakes/s (s_time, EC)" st_ec.rate - -
row "proxy CPU use, handshakes (s_time, EC)" st_ec.util - -
row "RSS kB before idle test" idle.before_kb - -
row "RSS kB holding idle connections" idle.during_kb - -
row "bytes per idle connection" idle.bytes_per_conn 0.6 -
row "errors (all tests)" errors zero -
echo
by_round "keep-alive CPU ratio vs nginx (bench_loadgen)" nginx ka.cpu_us_per
by_round "keep-alive CPU ratio vs stream (bench_loadgen)" stream ka.cpu_us_per
by_round "keep-alive CPU ratio vs nginx (oha)" nginx oha.cpu_us_per
by_round "keep-alive CPU ratio vs stream (oha)" stream oha.cpu_us_per
by_round "keep-alive p99 ratio vs nginx (bench_loadgen)" nginx ka.p99
by_round "keep-alive p99 ratio vs nginx (oha)" nginx oha.p99
by_round "1 KB POST CPU ratio vs nginx (bench_loadgen)" nginx post.cpu_us_per
by_round "1 KB POST CPU ratio vs stream (bench_loadgen)" stream post.cpu_us_per
by_round "1 KB POST CPU ratio vs nginx (oha)" nginx oha_post.cpu_us_per
by_round "1 KB POST CPU ratio vs stream (oha)" stream oha_post.cpu_us_per
for s in "${EXTRA_SHAPES[@]}"; do
    by_round "keep-alive CPU ratio vs nginx (bench_loadgen, $s)" nginx "ka_$s.cpu_us_per"
    by_round "keep-alive CPU ratio vs stream (bench_loadgen, $s)" stream "ka_$s.cpu_us_per"
    by_round "keep-alive CPU ratio vs nginx (oha, $s)" nginx "oha_$s.cpu_us_per"
    by_round "keep-alive CPU ratio vs stream (oha, $s)" stream "oha_$s.cpu_us_per"
done
by_round "handshake CPU ratio vs nginx (EC)" nginx hs_ec.cpu_us_per
by_round "handshake CPU ratio vs nginx (RSA)" nginx hs_rsa.cpu_us_per
by_round "handshake CPU ratio vs nginx (s_time, EC)" nginx st_ec.cpu_us_per
by_round "handshake p99 ratio vs nginx (EC)" nginx hs_ec.p99
by_round "handshake p99 ratio vs nginx (RSA)" nginx hs_rsa.p99
echo
echo "raw results:"
sed 's/^/  /' "$RAW"
if [[ $KEEP_TMP == 1 || $RESULTS != "$TMP"/* ]]; then
    echo
    echo "results file: $RESULTS"
fi

ERRORS=$((${R[certgate.errors]} + ${R[nginx.errors]} + ${R[stream.errors]}))
if ((ERRORS > 0)); then
    echo "run.sh: $ERRORS errors (certgate ${R[certgate.errors]}, nginx ${R[nginx.errors]}, nginx-stream ${R[stream.errors]})" >&2
    [[ $KEEP_TMP == 1 ]] || tail -n 20 "$TMP/certgate-base.log" >&2 || true
    exit 1
fi
if [[ $STRICT == 1 && $MISSED == 1 ]]; then
    echo "run.sh: some targets were missed (STRICT=1)" >&2
    exit 1
fi
exit 0
