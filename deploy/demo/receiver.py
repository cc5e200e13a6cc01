"""A merchant's own webhook receiver, for trying Settle's webhooks on the local stack.

Listens on 127.0.0.1:PORT and verifies every request with the `standardwebhooks` library
(PyPI) and the secret the API showed when the endpoint was created (WEBHOOK_SECRET). Prints
one line per webhook: `verified <type> <event id> order=<order id>` or `rejected <reason>`.
Answers 204 to a verified webhook and 400 to anything else.

Usage: WEBHOOK_SECRET=whsec_… python3 deploy/demo/receiver.py [port]   (default 7199)
"""
import http.server
import os
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            event = webhook.verify(body, dict(self.headers.items()))
        except WebhookVerificationError as error:
            print(f"rejected {error}", flush=True)
            self.send_response(400)
        else:
            order = (event.get("data", {}).get("object") or {}).get("id")
            print(f"verified {event['type']} {event['id']} order={order}", flush=True)
            self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):  # one line per webhook is enough
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 7199
print(f"listening on http://127.0.0.1:{port}/", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
