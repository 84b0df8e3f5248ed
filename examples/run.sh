#!/usr/bin/env bash
# End-to-end example: certgate in front of a legacy plain-HTTP webhook listener.
#
#   bash examples/run.sh                                  # builds certgate (cargo build --release)
#   CERTGATE_BIN=target/debug/certgate bash examples/run.sh   # uses that binary, no build
#
# It makes a throwaway PKI with openssl in a temporary directory (the commands of README.md's
# worked example, plus a second sender), then:
#
#   2-3. certgate inspect / certgate check on the sender certificates (offline, exit 0 / 1);
#   4.   starts examples/webhook/listener.py (plain HTTP on 127.0.0.1) and certgate in front
#        of it (TLS, client certificate required, one DN allowed on /webhooks), both on free
#        ports;
#   5.   posts a webhook as the allowed sender -> 200, the listener logs the verified subject;
#   6.   the allowed sender forging X-Client-Cert-* headers -> 200, the forgery never arrives;
#   7.   a sender of the same CA with another DN -> 403, the listener sees nothing;
#   8.   a sender without a client certificate -> refused at the TLS handshake;
#   9.   the allowed sender on a path outside every route -> 404;
#   10.  the listener called directly, bypassing certgate -> 401 (no identity header).
#
# Prints `examples/run.sh: all checks passed` and exits 0, or names the failing check and
# exits 1. Every process it starts is stopped on exit. Needs bash, openssl, curl, python3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

for tool in openssl curl python3; do
    command -v "$tool" >/dev/null || { echo "examples/run.sh: $tool is required" >&2; exit 1; }
done

if [[ -n ${CERTGATE_BIN:-} ]]; then
    bin=$CERTGATE_BIN
    [[ $bin == /* ]] || bin="$PWD/$bin"
else
    echo "== building certgate (cargo build --release)"
    (cd "$repo" && cargo build --release --quiet)
    bin="$repo/target/release/certgate"
fi
[[ -x $bin ]] || { echo "examples/run.sh: $bin is not an executable" >&2; exit 1; }

# The commands below read as the docs write them: `certgate ...`.
certgate() { "$bin" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/certgate-example.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "examples/run.sh: FAILED: $*" >&2
    if [[ -f $work/certgate.log ]]; then
        echo "---- certgate log" >&2
        cat "$work/certgate.log" >&2
    fi
    if [[ -f $work/listener.log ]]; then
        echo "---- listener log" >&2
        cat "$work/listener.log" >&2
    fi
    exit 1
}
pass() { echo "   ok: $*"; }

# Print a command as a reader would type it, then run it (in $work, so paths stay short).
show() { echo "\$ $*"; }

cd "$work"

# ---------------------------------------------------------------------------------------------
echo "== 1. a throwaway PKI in $work"
# The same commands as the worked example in README.md, plus a second sender of the same CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 30 -subj "/CN=Example Sender CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 \
  -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth") 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout sender.key -out sender.csr \
  -subj "/C=US/O=DocuSign, Inc./CN=demo.docusign.net" 2>/dev/null
openssl x509 -req -in sender.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out sender.pem -days 30 \
  -extfile <(printf "extendedKeyUsage=clientAuth") 2>/dev/null
# Same CA, another DN: its chain verifies, but no --allow rule names it.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout intruder.key -out intruder.csr \
  -subj "/C=US/O=Someone Else/CN=intruder.example" 2>/dev/null
openssl x509 -req -in intruder.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out intruder.pem -days 30 \
  -extfile <(printf "extendedKeyUsage=clientAuth") 2>/dev/null
ls
echo

allowed_subject='CN=demo.docusign.net,O=DocuSign\, Inc.,C=US'

# ---------------------------------------------------------------------------------------------
echo "== 2. what is in the sender's certificate? (certgate inspect)"
show certgate inspect sender.pem
out=$(certgate inspect sender.pem) || fail "certgate inspect sender.pem exited $?"
echo "$out"
grep -qF "subject:            $allowed_subject" <<<"$out" || fail "inspect: RFC 4514 subject missing"
grep -qF "/C=US/O=DocuSign, Inc./CN=demo.docusign.net" <<<"$out" || fail "inspect: slash-form subject missing"
grep -qF -- "--allow 'ROUTE=subject:$allowed_subject'" <<<"$out" || fail "inspect: ready-to-paste rule missing"
pass "certgate inspect prints the subject and a ready-to-paste --allow rule"
echo

# ---------------------------------------------------------------------------------------------
echo "== 3. offline verdicts with the same flags as the proxy (certgate check)"
show "certgate check --trust ca.pem --route webhooks=/webhooks \\
    --allow 'webhooks=subject:CN=demo.docusign.net,O=DocuSign\\, Inc.,C=US' \\
    --cert sender.pem --path /webhooks/docusign"
rc=0
out=$(certgate check --trust ca.pem --route webhooks=/webhooks \
    --allow 'webhooks=subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US' \
    --cert sender.pem --path /webhooks/docusign) || rc=$?
echo "$out"
echo "(exit $rc)"
[[ $rc -eq 0 ]] || fail "certgate check on sender.pem: expected exit 0, got $rc"
[[ $out == ALLOWED:* ]] || fail "certgate check on sender.pem: expected ALLOWED"
pass "sender.pem is allowed (exit 0)"
echo
show "certgate check --trust ca.pem --route webhooks=/webhooks \\
    --allow 'webhooks=subject:CN=demo.docusign.net,O=DocuSign\\, Inc.,C=US' \\
    --cert intruder.pem --path /webhooks/docusign"
rc=0
out=$(certgate check --trust ca.pem --route webhooks=/webhooks \
    --allow 'webhooks=subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US' \
    --cert intruder.pem --path /webhooks/docusign) || rc=$?
echo "$out"
echo "(exit $rc)"
[[ $rc -eq 1 ]] || fail "certgate check on intruder.pem: expected exit 1, got $rc"
[[ $out == DENIED:* ]] || fail "certgate check on intruder.pem: expected DENIED"
pass "intruder.pem is denied (exit 1)"
echo
show "certgate check --trust ca.pem --route webhooks=/webhooks \\
    --allow 'webhooks=subject:/C=US/O=DocuSign, Inc./CN=demo.docusign.net' \\
    --cert sender.pem --path /webhooks/docusign"
rc=0
out=$(certgate check --trust ca.pem --route webhooks=/webhooks \
    --allow 'webhooks=subject:/C=US/O=DocuSign, Inc./CN=demo.docusign.net' \
    --cert sender.pem --path /webhooks/docusign) || rc=$?
echo "$out" | head -n1
echo "(exit $rc)"
[[ $rc -eq 0 ]] || fail "certgate check, slash-form rule: expected exit 0, got $rc"
pass "the OpenSSL slash form of the DN is the same rule (exit 0)"
echo

# ---------------------------------------------------------------------------------------------
echo "== 4. start the legacy listener (plain HTTP, 127.0.0.1) and certgate in front of it"
# Wait until FILE has a line matching the extended regex, or fail.
wait_for_line() {
    local file=$1 pattern=$2 what=$3 pid=$4 i
    for ((i = 0; i < 200; i++)); do
        if grep -Eq "$pattern" "$file" 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "$what exited before it was ready"
        sleep 0.05
    done
    fail "$what did not get ready within 10 s"
}

python3 -u "$here/webhook/listener.py" --port 0 >listener.log 2>&1 &
pids+=($!)
wait_for_line listener.log 'listening on http://' "the webhook listener" "${pids[-1]}"
app_port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' listener.log | head -n1)
echo "webhook listener on http://127.0.0.1:$app_port"

show "certgate run --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \\
    --server-cert server.pem --server-key server.key \\
    --trust ca.pem --upstream http://127.0.0.1:$app_port \\
    --route webhooks=/webhooks \\
    --allow 'webhooks=subject:CN=demo.docusign.net,O=DocuSign\\, Inc.,C=US'"
# "$bin", not the certgate() function: $! must be certgate's own pid so that cleanup stops it.
"$bin" run --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --server-cert server.pem --server-key server.key \
    --trust ca.pem --upstream "http://127.0.0.1:$app_port" \
    --route webhooks=/webhooks \
    --allow 'webhooks=subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US' \
    >certgate.log 2>&1 &
pids+=($!)
# `admin listening addr=...` comes first; the TLS listener's line has no prefix.
wait_for_line certgate.log '(INFO|info).* listening addr=' "certgate" "${pids[-1]}"
proxy_addr=$(grep -v 'admin listening' certgate.log | sed -n 's/.* listening addr=\([0-9.]*:[0-9]*\).*/\1/p' | head -n1)
admin_addr=$(sed -n 's/.*admin listening addr=\([0-9.]*:[0-9]*\).*/\1/p' certgate.log | head -n1)
[[ -n $proxy_addr ]] || fail "could not read certgate's listening addr from its log"
proxy_port=${proxy_addr##*:}
echo "certgate on https://localhost:$proxy_port (admin http://$admin_addr)"
ready=$(curl -s "http://$admin_addr/readyz" -o /dev/null -w '%{http_code}') || true
[[ $ready == 200 ]] || fail "certgate /readyz: expected 200, got $ready"
pass "certgate is ready (/readyz 200)"
echo

url="https://localhost:$proxy_port/webhooks/docusign"
# certgate's log has the fixed string $1 (within 5 s: log lines may trail the answer).
log_has() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -qF -- "$1" certgate.log && return 0
        sleep 0.05
    done
    return 1
}
send() { "$here/webhook/send-webhook.sh" "$@"; }

# ---------------------------------------------------------------------------------------------
echo "== 5. the allowed sender posts a webhook"
show "examples/webhook/send-webhook.sh $url ca.pem sender.pem sender.key"
rc=0
out=$(send "$url" ca.pem sender.pem sender.key 2>&1) || rc=$?
echo "$out"
[[ $rc -eq 0 ]] || fail "allowed sender: curl exited $rc"
[[ $(tail -n1 <<<"$out") == "HTTP 200" ]] || fail "allowed sender: expected HTTP 200"
grep -qF '{"status": "received"}' <<<"$out" || fail "allowed sender: expected the listener's {\"status\": \"received\"}"
grep -qF "accepted webhook from $allowed_subject (fingerprint " listener.log ||
    fail "allowed sender: the listener did not log 'accepted webhook from $allowed_subject'"
echo "listener log: $(grep -F 'accepted webhook from' listener.log | tail -n1)"
pass "200, and the listener logged the verified subject"
echo

# ---------------------------------------------------------------------------------------------
echo "== 6. the allowed sender tries to forge the identity headers"
show "curl --cacert ca.pem --cert sender.pem --key sender.key \\
    -H 'X-Client-Cert-Subject: CN=admin' -H 'X_Client_Cert_Fingerprint: 00' \\
    -H 'Content-Type: application/json' -d '{\"event\":\"forged\"}' $url"
rc=0
out=$(curl -sS --cacert ca.pem --cert sender.pem --key sender.key \
    -H 'X-Client-Cert-Subject: CN=admin' -H 'X_Client_Cert_Fingerprint: 00' \
    -H 'Content-Type: application/json' -d '{"event":"forged"}' \
    -w '\nHTTP %{http_code}\n' "$url" 2>&1) || rc=$?
echo "$out"
[[ $rc -eq 0 && $(tail -n1 <<<"$out") == "HTTP 200" ]] || fail "forging sender: expected HTTP 200"
line=$(grep -F 'event forged' listener.log || true)
echo "listener log: $line"
[[ $line == "accepted webhook from $allowed_subject (fingerprint "* ]] ||
    fail "forging sender: the listener did not see the verified subject"
if grep -qE 'CN=admin|fingerprint 00[ ,]' listener.log; then
    fail "forging sender: a forged identity header reached the listener"
fi
pass "the forged headers were removed; the listener saw only the verified identity"
echo

# ---------------------------------------------------------------------------------------------
echo "== 7. a sender of the same CA with another DN"
show "examples/webhook/send-webhook.sh $url ca.pem intruder.pem intruder.key"
accepted_before=$(grep -c 'accepted webhook' listener.log || true)
rc=0
out=$(send "$url" ca.pem intruder.pem intruder.key 2>&1) || rc=$?
echo "$out"
[[ $rc -eq 0 && $(tail -n1 <<<"$out") == "HTTP 403" ]] || fail "denied sender: expected HTTP 403"
grep -q 'request-id: ' <<<"$out" || fail "denied sender: expected a request id in the 403 body"
log_has 'decision=denied status=403 method=POST subject=CN=intruder.example' ||
    fail "denied sender: certgate did not log decision=denied for intruder.example"
echo "certgate log: $(grep -F 'decision=denied' certgate.log | tail -n1 | sed 's/^.*INFO //')"
accepted_after=$(grep -c 'accepted webhook' listener.log || true)
[[ $accepted_before == "$accepted_after" ]] || fail "denied sender: the request reached the listener"
pass "403, logged with the reason; the listener saw nothing"
echo

# ---------------------------------------------------------------------------------------------
echo "== 8. a sender without a client certificate"
show "examples/webhook/send-webhook.sh $url ca.pem"
rc=0
out=$(send "$url" ca.pem 2>&1) || rc=$?
echo "$out"
echo "(curl exit $rc)"
[[ $rc -ne 0 ]] || fail "no-certificate sender: expected curl to fail, it exited 0"
[[ $(tail -n1 <<<"$out") == "HTTP 000" ]] || fail "no-certificate sender: expected no HTTP answer (HTTP 000)"
log_has 'TLS handshake rejected: client presented no certificate' ||
    fail "no-certificate sender: certgate did not log the refused handshake"
echo "certgate log: $(grep -F 'client presented no certificate' certgate.log | tail -n1 | sed 's/^.*INFO //')"
accepted_now=$(grep -c 'accepted webhook' listener.log || true)
[[ $accepted_now == "$accepted_after" ]] || fail "no-certificate sender: the request reached the listener"
pass "refused at the TLS handshake, logged with the reason; the listener saw nothing"
echo

# ---------------------------------------------------------------------------------------------
echo "== 9. the allowed sender on a path outside every route"
show "curl --cacert ca.pem --cert sender.pem --key sender.key https://localhost:$proxy_port/admin"
rc=0
out=$(curl -sS --cacert ca.pem --cert sender.pem --key sender.key \
    -w '\nHTTP %{http_code}\n' "https://localhost:$proxy_port/admin" 2>&1) || rc=$?
echo "$out"
[[ $rc -eq 0 && $(tail -n1 <<<"$out") == "HTTP 404" ]] || fail "path outside every route: expected HTTP 404"
accepted_now=$(grep -c 'accepted webhook' listener.log || true)
[[ $accepted_now == "$accepted_after" ]] || fail "path outside every route: the request reached the listener"
pass "404; the listener saw nothing"
echo

# ---------------------------------------------------------------------------------------------
echo "== 10. calling the listener directly, bypassing certgate"
show "curl -H 'Content-Type: application/json' -d '{\"event\":\"direct\"}' http://127.0.0.1:$app_port/webhooks/docusign"
rc=0
out=$(curl -sS -H 'Content-Type: application/json' -d '{"event":"direct"}' \
    -w '\nHTTP %{http_code}\n' "http://127.0.0.1:$app_port/webhooks/docusign" 2>&1) || rc=$?
echo "$out"
[[ $rc -eq 0 && $(tail -n1 <<<"$out") == "HTTP 401" ]] || fail "direct call: expected HTTP 401 from the listener"
pass "401: without certgate in front there is no verified identity"
echo

echo "== certgate's log"
sed 's/^[^ ]* *//' certgate.log
echo
echo "== the listener's log"
cat listener.log
echo

echo "examples/run.sh: all checks passed"
