#!/usr/bin/env bash
# The cost of payload signatures (`--verify`), per keep-alive request, on one certgate:
#
#   plain-get    GET on a route without --verify (the common case: must not get dearer)
#   plain-post   a 4 KB POST on a route without --verify (streams)
#   signed-post  the same 4 KB POST, DocuSign-signed, on a `--verify docusign` route
#                (reads the body whole, HMAC-SHA256, forwards it with Content-Length)
#
# Two figures per load: user-space instructions per request (callgrind: independent of the
# machine's load, the one to compare builds with) and CPU time per request (utime + stime of
# the certgate process from /proc, kernel included; moves with the machine).
#
#   bench/signatures.sh
#   REQUESTS=50000 bench/signatures.sh
#   NO_BUILD=1 CERTGATE=/path/to/other/certgate bench/signatures.sh   # e.g. a build without
#                                                 # --verify: only plain-get and plain-post run
#   ONLY=plain-get KEEP_TMP=1 bench/signatures.sh  # one load; its callgrind file is kept
#
# Needs valgrind (installed from Debian if missing) and openssl. Loopback only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQUESTS=${REQUESTS:-20000}
CONNS=${CONNS:-8}
[[ $REQUESTS =~ ^[0-9]+$ ]] && ((REQUESTS >= 100 && REQUESTS <= 10000000)) ||
    { echo "signatures.sh: REQUESTS must be in 100..10000000" >&2; exit 2; }
[[ $CONNS =~ ^[0-9]+$ ]] && ((CONNS >= 1 && CONNS <= 256)) ||
    { echo "signatures.sh: CONNS must be in 1..256" >&2; exit 2; }

die() { echo "signatures.sh: $*" >&2; exit 2; }
log() { echo "== $*" >&2; }

SUDO=
((EUID == 0)) || SUDO=sudo
if ! command -v valgrind >/dev/null; then
    log "valgrind not found: installing it from Debian packages"
    $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y valgrind >&2 || die "cannot install valgrind"
fi
command -v openssl >/dev/null || die "openssl is needed to sign the benchmark body"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
release_binaries "${CERTGATE:-}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/certgate-sig.XXXXXX")
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

# A 4 KB DocuSign Connect-style JSON body and its X-DocuSign-Signature-1.
KEY="bench-connect-hmac-key"
printf '%s\n' "$KEY" >"$TMP/docusign.key"
PREFIX='{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/1/envelopes/93be49ab","generatedDateTime":"2026-01-01T00:00:00Z","data":{"accountId":"1","envelopeId":"93be49ab","envelopeSummary":{"status":"completed","recipients":['
for i in $(seq 1 20); do
    ((i > 1)) && PREFIX+=','
    PREFIX+="{\"recipientId\":\"$i\",\"name\":\"Signer $i\",\"email\":\"signer$i@example.com\",\"status\":\"completed\"}"
done
PREFIX+='],"note":"'
SUFFIX='"}}}'
PAD=$((4096 - ${#PREFIX} - ${#SUFFIX}))
((PAD > 0)) || die "benchmark body prefix is too long"
{ printf '%s' "$PREFIX"; head -c "$PAD" /dev/zero | tr '\0' 'x'; printf '%s' "$SUFFIX"; } >"$TMP/body.json"
SIZE=$(wc -c <"$TMP/body.json")
((SIZE == 4096)) || die "benchmark body is $SIZE bytes, not 4096"
SIG=$(openssl dgst -sha256 -hmac "$KEY" -binary "$TMP/body.json" | base64 -w0)

HAS_VERIFY=0
"$CERTGATE" run --help 2>/dev/null | grep -q -- '--verify ' && HAS_VERIFY=1

CG_PORT=$(free_port)
ARGS=(run --listen "127.0.0.1:$CG_PORT" --admin-listen off
    --server-cert "$PKI/server.pem" --server-key "$PKI/server.key" --trust "$PKI/ca.pem"
    --upstream "http://127.0.0.1:$UP_PORT"
    --route plain=/plain --allow 'plain=subject:CN=bench-client,O=Bench Inc,C=US')
if ((HAS_VERIFY)); then
    ARGS+=(--route signed=/signed --allow 'signed=subject:CN=bench-client,O=Bench Inc,C=US'
        --verify signed=docusign --verify-key "signed=$TMP/docusign.key")
fi
COMMON=(--connect "127.0.0.1:$CG_PORT" --ca "$PKI/ca.pem" --cert "$PKI/client-ec.pem"
    --key "$PKI/client-ec.key" --conns "$CONNS" --duration 600)
LOADS=(plain-get plain-post)
((HAS_VERIFY)) && LOADS+=(signed-post)
# ONLY="plain-get": measure only these loads (with KEEP_TMP=1 the last one's callgrind file stays).
[[ -n ${ONLY:-} ]] && read -r -a LOADS <<<"$ONLY"
load_args() {
    case $1 in
    plain-get) echo --path /plain/x ;;
    plain-post) echo --path /plain/x --body-file "$TMP/body.json" ;;
    signed-post) echo --path /signed/x --body-file "$TMP/body.json" ;;
    esac
}
run_load() { # NAME REQUESTS
    local extra
    read -r -a extra <<<"$(load_args "$1")"
    [[ $1 == signed-post ]] && extra+=(--header "X-DocuSign-Signature-1: $SIG")
    "$LOADGEN" keepalive "${COMMON[@]}" "${extra[@]}" --requests "$2"
}
ok_of() { grep '^RESULT ' <<<"$1" | tr ' ' '\n' | sed -n 's/^ok=//p'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

declare -A CPU_US IR
# CPU time: certgate natively.
RUST_LOG=warn "$CERTGATE" "${ARGS[@]}" >"$TMP/certgate.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait_port "$CG_PORT" "$pid" certgate
HZ=$(getconf CLK_TCK)
for load in "${LOADS[@]}"; do
    run_load "$load" 1000 >/dev/null || die "$load: warm-up failed (log: $TMP/certgate.log)"
    t0=$(cpu_ticks "$pid")
    out=$(run_load "$load" "$REQUESTS") || die "$load: load failed: $out"
    t1=$(cpu_ticks "$pid")
    n=$(ok_of "$out")
    ((n == REQUESTS)) || die "$load: only $n of $REQUESTS requests got 200: $out"
    CPU_US[$load]=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true

# Instructions: the same under callgrind, instrumentation on only around each load.
RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$TMP/cg.callgrind.%p" "$CERTGATE" "${ARGS[@]}" >"$TMP/certgate-cg.log" 2>&1 &
pid=$!
PIDS+=("$pid")
wait_port "$CG_PORT" "$pid" certgate-cg 60
for load in "${LOADS[@]}"; do
    run_load "$load" 1000 >/dev/null || die "$load: warm-up under callgrind failed"
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    out=$(run_load "$load" "$REQUESTS") || die "$load: load under callgrind failed: $out"
    callgrind_control -i off "$pid" >/dev/null 2>&1
    rm -f "$TMP"/cg.callgrind.*
    callgrind_control -d "$pid" >/dev/null 2>&1
    n=$(ok_of "$out")
    ir=$(cat "$TMP"/cg.callgrind.* 2>/dev/null | awk '/^(summary|totals):/ && $2 > s { s = $2 } END { printf "%.0f\n", s }')
    ((n > 0 && ir > 0)) || die "$load: no measurement (requests=$n instructions=$ir)"
    IR[$load]=$((ir / n))
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true

echo
echo "certgate $("$CERTGATE" --version | awk '{print $2}'), $REQUESTS keep-alive requests over $CONNS connections per load"
printf '%-12s %22s %18s\n' load "instructions/request" "CPU us/request"
for load in "${LOADS[@]}"; do
    printf '%-12s %22s %18s\n' "$load" "${IR[$load]}" "${CPU_US[$load]}"
done
((HAS_VERIFY)) || echo "(this certgate has no --verify: signed-post skipped)"
