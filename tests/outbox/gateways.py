"""Real local gateways for the outbox tests: an HTTP server (SMS and push webhooks, the WeChat
Official Account API) and an SMTP server (aiosmtpd), each on a free port of 127.0.0.1.

The HTTP gateway behaves like a broker's SMS platform that honours ``Idempotency-Key``: a request
whose key it has already delivered is answered with the first answer and not delivered again. It
can be told to fail (HTTP 500), to hang past the client's timeout after delivering (the answer is
lost, the message is not), to refuse a recipient (HTTP 400), and to recover.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from email import message_from_bytes, policy

from aiohttp import web
from aiosmtpd.controller import Controller


class HttpGateway:
    """SMS at ``/sms``, push at ``/push``, WeChat at ``/cgi-bin/...``; runs in its own thread."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # idempotency key -> requests received
        self.delivered: dict[str, dict] = {}  # key -> the message, delivered once
        self.deliveries: list[str] = []  # every delivery in order (a key twice = sent twice)
        self.by_path: Counter[str] = Counter()
        self.arrivals: list[tuple[str, float]] = []  # (path, time.monotonic()) of each request
        self.failures: defaultdict[str, list[str]] = defaultdict(list)  # path -> scripted answers
        self.always_fail_to: set[str] = set()  # recipients whose every request gets a 500
        self.refuse_to: set[str] = set()  # recipients the gateway refuses (400)
        self.hang_s = 2.0
        self.honour_keys = True
        # WeChat
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.unsubscribed: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    # scripting
    def script(self, path: str, *answers: str) -> None:
        """The next requests to ``path`` get these answers in order: '500', 'hang', '429'."""
        self.failures[path].extend(answers)

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # serving
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/sms", self._webhook)
        app.router.add_post("/push", self._webhook)
        app.router.add_post("/cgi-bin/stable_token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._wechat_send)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def _answer(self, path: str) -> str | None:
        return self.failures[path].pop(0) if self.failures[path] else None

    @staticmethod
    def _error(answer: str) -> web.Response | None:
        if answer == "500":
            return web.json_response({"error": "网关内部错误"}, status=500)
        if answer == "429":
            return web.json_response({"error": "请求过于频繁"}, status=429, headers={"Retry-After": "1"})
        return None

    def _deliver(self, key: str, message: dict) -> str:
        if self.honour_keys and key in self.delivered:
            return self.delivered[key]["_id"]
        message["_id"] = f"gw-{uuid.uuid4().hex[:12]}"
        self.delivered[key] = message
        self.deliveries.append(key)
        return message["_id"]

    async def _webhook(self, request: web.Request) -> web.Response:
        path = request.path.strip("/")
        self.by_path[path] += 1
        self.arrivals.append((path, time.monotonic()))
        key = request.headers.get("Idempotency-Key", "")
        self.requests[key] += 1
        answer = self._answer(path)
        if (error := self._error(answer)) is not None:
            return error
        body = await request.json()
        if body["to"] in self.always_fail_to:
            return web.json_response({"error": "运营商通道繁忙"}, status=503)
        if body["to"] in self.refuse_to:
            return web.json_response({"error": "号码无效"}, status=400)
        message_id = self._deliver(key, {**body, "path": path})
        if answer == "hang":  # delivered, but the answer comes too late for the client
            await asyncio.sleep(self.hang_s)
        return web.json_response({"message_id": message_id})

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.by_path["token"] += 1
        if body.get("appid") != "wx-test-app" or body.get("secret") != "wx-test-secret":
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        if self.valid_tokens and not body.get("force_refresh"):
            token = next(iter(self.valid_tokens))
        else:
            token = f"TOKEN-{uuid.uuid4().hex}"
            self.valid_tokens = {token}
            self.tokens_issued += 1
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _wechat_send(self, request: web.Request) -> web.Response:
        self.by_path["wechat"] += 1
        key = request.headers.get("Idempotency-Key", "")
        self.requests[key] += 1
        if (error := self._error(self._answer("wechat"))) is not None:
            return error
        if request.query.get("access_token") not in self.valid_tokens:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        body = await request.json()
        if body["touser"] in self.unsubscribed:
            return web.json_response({"errcode": 43004, "errmsg": "require subscribe"})
        self._deliver(key, {**body, "path": "wechat"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd relay on a free port; ``messages`` are the e-mails it accepted."""

    def __init__(self, port: int | None = None) -> None:
        self.mailbox = _Mailbox()
        self.port = port or free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list:
        return self.mailbox.messages

    def stop(self) -> None:
        self.controller.stop()
