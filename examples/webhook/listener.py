#!/usr/bin/env python3
"""A legacy webhook listener that cannot do mutual TLS itself.

It speaks plain HTTP on 127.0.0.1 only and trusts the identity headers that certgate sets
(X-Client-Cert-Subject, X-Client-Cert-Fingerprint). That trust is sound only because:

  * it listens on loopback, so nothing but certgate (on the same host or pod) can reach it;
  * certgate removes every inbound X-Client-Cert-* header (any case, `_` or `-`) before it
    sets its own, so a caller cannot forge them.

A request without X-Client-Cert-Subject did not come through certgate with a verified
certificate, and is refused with 401.

Standard library only. Usage:

    python3 listener.py [--port 8080]      # --port 0 picks a free port

It prints `webhook listener: listening on http://127.0.0.1:PORT` once it accepts requests,
and one line per request on stdout.
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20  # 1 MiB: a webhook envelope is far smaller


def log(line):
    print(line, flush=True)


class WebhookHandler(BaseHTTPRequestHandler):
    server_version = "legacy-webhook-listener/1.0"

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        # Set by certgate from the verified client certificate; never by the caller.
        subject = self.headers.get("X-Client-Cert-Subject")
        fingerprint = self.headers.get("X-Client-Cert-Fingerprint", "-")
        if not subject:
            log(f"refused {self.path}: no X-Client-Cert-Subject header (not sent through certgate?)")
            self.answer(401, {"status": "unauthenticated"})
            return

        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.answer(413, {"status": "too large"})
            return
        try:
            envelope = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            log(f"refused {self.path} from {subject}: body is not a JSON object")
            self.answer(400, {"status": "bad envelope"})
            return
        event = envelope.get("event", "-")
        data = envelope.get("data")
        envelope_id = data.get("envelopeId", "-") if isinstance(data, dict) else "-"

        # The application's own authorisation would go here (certgate already checked the DN
        # against --allow; the app may still map the subject to an account, etc.).
        log(
            f"accepted webhook from {subject} "
            f"(fingerprint {fingerprint}, path {self.path}, event {event}, envelope {envelope_id})"
        )
        self.answer(200, {"status": "received"})

    def do_GET(self):
        self.answer(405, {"status": "POST only"})

    def log_message(self, fmt, *args):
        # The access log is certgate's; keep this one to the lines above.
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="TCP port on 127.0.0.1 (0: pick one)")
    args = parser.parse_args()
    # Loopback only: the identity headers are trustworthy only if certgate is the sole way in.
    server = ThreadingHTTPServer(("127.0.0.1", args.port), WebhookHandler)
    host, port = server.server_address[:2]
    log(f"webhook listener: listening on http://{host}:{port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
