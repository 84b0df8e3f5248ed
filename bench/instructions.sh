#!/usr/bin/env bash
# User-space instructions per keep-alive request, certgate vs nginx, counted by valgrind's
# callgrind. Unlike CPU time, an instruction count does not move with the machine's load, so
# this is the figure to compare two builds of certgate with (and a noise-free cross-check of
# bench/run.sh's keep-alive ratio, for the user-space half of the cost: kernel time is not
# counted).
#
#   bench/instructions.sh                  # 20,000 requests over 8 connections per proxy
#   REQUESTS=50000 bench/instructions.sh
#   NO_BUILD=1 CERTGATE=/path/to/other/certgate bench/instructions.sh   # another build
#
# Needs valgrind (installed from Debian if missing) and nginx (as for bench/run.sh). Both
# proxies run under callgrind with instrumentation switched on only around the measured load.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQUESTS=${REQUESTS:-20000}
CONNS=${CONNS:-8}
[[ $REQUESTS =~ ^[0-9]+$ ]] && ((REQUESTS >= 100 && REQUESTS <= 10000000)) ||
    { echo "instructions.sh: REQUESTS must be in 100..10000000" >&2; exit 2; }
[[ $CONNS =~ ^[0-9]+$ ]] && ((CONNS >= 1 && CONNS <= 256)) ||
    { echo "instructions.sh: CONNS must be in 1..256" >&2; exit 2; }

die() { echo "instructions.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

SUDO=
((EUID == 0)) || SUDO=sudo
install_pkg() { # COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    log "$1 not found: installing $2 from Debian packages"
    $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y "$2" >&2 || die "cannot install $2"
}
install_pkg valgrind valgrind
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
if [[ -z $NGINX ]]; then
    install_pkg nginx nginx-light
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
release_binaries "${CERTGATE:-}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/certgate-instr.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ ${KEEP_TMP:-0} == 1 ]] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


PKI="$TMP/pki"
"$LOADGEN" pki --dir "$PKI" >/dev/null
UP_PORT=$(free_port)
"$UPSTREAM" --listen "127.0.0.1:$UP_PORT" >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
wait_port "$UP_PORT" "$!" upstream

# measure NAME PORT CMD...: start CMD under callgrind, run the load; sets PER_REQUEST[NAME]
declare -A PER_REQUEST
measure() {
    local name=$1 port=$2 pid out n ir
    shift 2
    valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$TMP/$name.callgrind.%p" "$@" >"$TMP/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_port "$port" "$pid" "$name" 60 # valgrind starts slowly
    local common=(--connect "127.0.0.1:$port" --ca "$PKI/ca.pem" --cert "$PKI/client-ec.pem"
        --key "$PKI/client-ec.key")
    "$LOADGEN" keepalive "${common[@]}" --conns "$CONNS" --requests 1000 --duration 600 >/dev/null ||
        die "$name: warm-up failed (log: $TMP/$name.log)"
    callgrind_control -i on "$pid" >/dev/null 2>&1
    out=$("$LOADGEN" keepalive "${common[@]}" --conns "$CONNS" --requests "$REQUESTS" --duration 600) ||
        die "$name: load failed: $out"
    callgrind_control -i off "$pid" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    n=$(grep '^RESULT ' <<<"$out" | tr ' ' '\n' | sed -n 's/^ok=//p')
    ir=$(cat "$TMP/$name".callgrind.* | awk '/^(summary|totals):/ { s += $2 } END { printf "%.0f\n", s }')
    ((n > 0 && ir > 0)) || die "$name: no measurement (requests=$n instructions=$ir)"
    PER_REQUEST[$name]=$((ir / n))
}

CG_PORT=$(free_port)
log "certgate under callgrind: $REQUESTS keep-alive requests over $CONNS connections"
# One worker thread: the runtime bench/run.sh measures (it pins certgate to one CPU, where
# certgate starts one worker; unpinned here it would start one per core).
RUST_LOG=warn measure certgate "$CG_PORT" "$CERTGATE" run --worker-threads 1 \
    --listen "127.0.0.1:$CG_PORT" --admin-listen off \
    --server-cert "$PKI/server.pem" --server-key "$PKI/server.key" --trust "$PKI/ca.pem" \
    --upstream "http://127.0.0.1:$UP_PORT" --route b=/ \
    --allow 'b=subject:CN=bench-client,O=Bench Inc,C=US'

# measure_nginx NAME TEMPLATE LABEL: nginx with bench/TEMPLATE under callgrind
measure_nginx() {
    local name=$1 tmpl=$2 label=$3 port
    port=$(free_port)
    mkdir -p "$TMP/$name"
    sed -e "s|@TMP@|$TMP/$name|g" -e "s|@PKI@|$PKI|g" \
        -e "s|@UPSTREAM_PORT@|$UP_PORT|g" -e "s|@NGINX_PORT@|$port|g" \
        "$ROOT/bench/$tmpl" >"$TMP/$name/nginx.conf"
    log "$label under callgrind: $REQUESTS keep-alive requests over $CONNS connections"
    measure "$name" "$port" "$NGINX" -p "$TMP/$name" -e "$TMP/$name/nginx-error.log" \
        -c "$TMP/$name/nginx.conf"
}
measure_nginx nginx nginx.conf.tmpl nginx
measure_nginx stream nginx-stream.conf.tmpl nginx-stream

a=${PER_REQUEST[certgate]}
b=${PER_REQUEST[nginx]}
c=${PER_REQUEST[stream]}
echo
echo "user-space instructions per keep-alive request (callgrind; kernel not counted)"
echo "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $REQUESTS requests over $CONNS connections per proxy"
printf '%-14s %12s\n' certgate "$a" nginx "$b" nginx-stream "$c"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "%-14s %12.2f\n%-14s %12.2f\n", "certgate/nginx", a / b, "certgate/stream", a / c }'
