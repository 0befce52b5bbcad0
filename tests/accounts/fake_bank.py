"""A custody bank's transfer front-end on a local port, as the tests' counterpart of
``accounts.banks.HttpBank``: it de-duplicates by Idempotency-Key like a real one, and can be told
to refuse, to fail with a 500, or to do the transfer but answer after the client gave up."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeBank:
    def __init__(self) -> None:
        self.done: dict[str, dict] = {}  # transfer_no -> the answer the bank gives for it
        self.requests: Counter[str] = Counter()
        self.script: list[str] = []  # next POSTs: "confirm", "reject", "late", "500"
        self.late_s = 3.0
        bank = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                return

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                no = self.headers["Idempotency-Key"]
                bank.requests[no] += 1
                if no in bank.done:
                    return self._send(200, bank.done[no])
                how = bank.script.pop(0) if bank.script else "confirm"
                if how == "500":
                    return self._send(500, {"message": "系统维护中"})
                if how == "reject":
                    bank.done[no] = {"status": "rejected", "message": "银行卡余额不足"}
                else:
                    bank.done[no] = {"status": "confirmed", "bank_ref": f"B{len(bank.done) + 1:08d}",
                                     "amount": body["amount"], "direction": body["direction"]}
                if how == "late":
                    time.sleep(bank.late_s)  # done at the bank; the answer comes too late
                return self._send(200, bank.done[no])

            def do_GET(self) -> None:
                no = self.path.rsplit("/", 1)[-1]
                if no not in bank.done:
                    return self._send(404, {"message": "无此交易"})
                return self._send(200, bank.done[no])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
