#!/usr/bin/env bash
# Post a JSON webhook the way DocuSign Connect, Leegality or Upvest do: HTTPS with a client
# certificate, Content-Type: application/json, a JSON envelope as the body.
#
# usage: send-webhook.sh URL CA.pem [CLIENT.pem CLIENT.key]
#
#   URL         e.g. https://localhost:8443/webhooks/docusign
#   CA.pem      the CA that issued certgate's server certificate (--cacert)
#   CLIENT.*    the sender's client certificate and key; leave out to send without one
#
# Prints the response body and a last line `HTTP <status>` (`HTTP 000` when no HTTP answer
# came, e.g. when the TLS handshake was refused). Exits with curl's exit code: 0 whenever an
# HTTP answer arrived (whatever its status), non-zero when the connection failed.
set -euo pipefail

if [[ $# -ne 2 && $# -ne 4 ]]; then
    echo "usage: $0 URL CA.pem [CLIENT.pem CLIENT.key]" >&2
    exit 2
fi
url=$1
ca=$2

now=$(date -u +%Y-%m-%dT%H:%M:%S.0000000Z)
body=$(cat <<EOF
{
  "event": "envelope-completed",
  "apiVersion": "v2.1",
  "uri": "/restapi/v2.1/accounts/8a3b5c7d-0000-4000-8000-000000000001/envelopes/93be49ab-0000-4000-8000-000000000002",
  "retryCount": 0,
  "configurationId": 10001,
  "generatedDateTime": "$now",
  "data": {
    "accountId": "8a3b5c7d-0000-4000-8000-000000000001",
    "userId": "4d2c6e1f-0000-4000-8000-000000000003",
    "envelopeId": "93be49ab-0000-4000-8000-000000000002"
  }
}
EOF
)

args=(
    --silent --show-error
    --max-time 20
    --cacert "$ca"
    --header 'Content-Type: application/json'
    --data-binary "$body"
    --write-out '\nHTTP %{http_code}\n'
)
if [[ $# -eq 4 ]]; then
    args+=(--cert "$3" --key "$4")
fi
exec curl "${args[@]}" "$url"
