"""A local server speaking Twilio's Messages API, for tests: it records what it received.

``POST /2010-04-01/Accounts/<sid>/Messages.json`` (form-encoded ``To``, ``From``,
``Body``; HTTP basic auth with the account sid and token) answers 201 with Twilio's
message shape (``sid``, ``status: queued``, ``num_segments``...). Wrong credentials get
401 (code 20003), a missing field 400 (code 21604/21602), and :attr:`fail_next` makes the
next answers 500 (a provider outage). Runs in a thread on a free port of 127.0.0.1;
``python -m tests.sms_server --port N`` runs it as a process.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from saas.sms import segments

PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-zA-Z]+)/Messages\.json$")


class _Handler(BaseHTTPRequestHandler):
    server: TwilioTestServer

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        srv = self.server
        m = PATH.match(self.path)
        if not m:
            return self._answer(404, {"code": 20404, "message": "not found", "status": 404})
        auth = self.headers.get("Authorization", "")
        expected = base64.b64encode(f"{srv.account_sid}:{srv.auth_token}".encode()).decode()
        if m["sid"] != srv.account_sid or auth != f"Basic {expected}":
            return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        with srv.lock:
            if srv.fail_next > 0:
                srv.fail_next -= 1
                return self._answer(500, {"code": 20500, "message": "Internal", "status": 500})
        if not form.get("To"):
            return self._answer(400, {"code": 21604, "message": "'To' required", "status": 400})
        if not form.get("Body"):
            return self._answer(400, {"code": 21602, "message": "Body required", "status": 400})
        sid = f"SM{uuid.uuid4().hex}"
        seg = segments(form["Body"])
        message = {
            "sid": sid,
            "account_sid": srv.account_sid,
            "to": form["To"],
            "from": form.get("From"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": str(seg.count),
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{srv.account_sid}/Messages/{sid}.json",
        }
        with srv.lock:
            srv.received.append(message)
        return self._answer(201, message)


class TwilioTestServer(ThreadingHTTPServer):
    """The server; :attr:`received` lists the accepted messages in order."""

    daemon_threads = True

    def __init__(self, account_sid="ACtest0000", auth_token="secret-token", port=0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.received: list[dict] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> TwilioTestServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.sms_server")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    srv = TwilioTestServer(port=args.port)
    print(srv.url, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
