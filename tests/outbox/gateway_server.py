"""A broker's message gateways on one local port, for the outbox tests: ``python -m
tests.outbox.gateway_server`` prints its port and serves until terminated.

- ``POST /sms`` and ``POST /push``: JSON webhooks that honour ``Idempotency-Key`` (a key already
  delivered is answered with the first answer and not delivered again);
- ``POST /cgi-bin/stable_token`` and ``POST /cgi-bin/message/custom/send``: the WeChat Official
  Account API (tokens, errcode 40001 for an invalid token, 43004 for an unsubscribed user, 45015
  for a customer-service message to a user outside the 48-hour window) and template messages;
- ``POST /_config`` scripts failures (500, 429 with Retry-After, 'hang': deliver, then answer too
  late), recipients that always fail or are refused, latency; ``GET /_state`` reports what arrived.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict

from aiohttp import web


class Gateway:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.delivered: dict[str, dict] = {}
        self.deliveries: list[str] = []
        self.arrivals: list[tuple[str, float]] = []
        self.script: defaultdict[str, list[str]] = defaultdict(list)
        self.always_fail_to: set[str] = set()
        self.refuse_to: set[str] = set()
        self.unsubscribed: set[str] = set()
        self.stale: set[str] = set()  # openids that have not written within 48 hours
        self.honour_keys = True
        self.latency_s = 0.0
        self.hang_s = 5.0  # past the tests' 2 s client timeout
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()

    def answer(self, path: str) -> str | None:
        return self.script[path].pop(0) if self.script[path] else None

    @staticmethod
    def error(answer: str | None) -> web.Response | None:
        if answer == "500":
            return web.json_response({"error": "网关内部错误"}, status=500)
        if answer == "429":
            return web.json_response({"error": "请求过于频繁"}, status=429, headers={"Retry-After": "1"})
        return None

    def deliver(self, key: str, message: dict) -> str:
        if self.honour_keys and key in self.delivered:
            return self.delivered[key]["_id"]
        message["_id"] = f"gw-{uuid.uuid4().hex[:12]}"
        self.delivered[key] = message
        self.deliveries.append(key)
        return message["_id"]

    async def webhook(self, request: web.Request) -> web.Response:
        path = request.path.strip("/")
        self.arrivals.append((path, time.monotonic()))
        key = request.headers.get("Idempotency-Key", "")
        self.requests[key] += 1
        answer = self.answer(path)
        if (error := self.error(answer)) is not None:
            return error
        body = await request.json()
        if body["to"] in self.always_fail_to:
            return web.json_response({"error": "运营商通道繁忙"}, status=503)
        if body["to"] in self.refuse_to:
            return web.json_response({"error": "号码无效"}, status=400)
        message_id = self.deliver(key, {**body, "path": path})
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if answer == "hang":  # delivered, but the answer comes too late for the client
            await asyncio.sleep(self.hang_s)
        return web.json_response({"message_id": message_id})

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("appid") != "wx-test-app" or body.get("secret") != "wx-test-secret":
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        if self.valid_tokens and not body.get("force_refresh"):
            token = next(iter(self.valid_tokens))
        else:
            token = f"TOKEN-{uuid.uuid4().hex}"
            self.valid_tokens = {token}
            self.tokens_issued += 1
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def wechat_send(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        self.requests[key] += 1
        if (error := self.error(self.answer("wechat"))) is not None:
            return error
        if request.query.get("access_token") not in self.valid_tokens:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        body = await request.json()
        if body["touser"] in self.unsubscribed:
            return web.json_response({"errcode": 43004, "errmsg": "require subscribe"})
        template = request.path.endswith("/template/send")
        if body["touser"] in self.stale and not template:
            return web.json_response({"errcode": 45015, "errmsg": "response out of time limit"})
        self.deliver(key, {**body, "path": "wechat-template" if template else "wechat"})
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": 200228332})

    async def configure(self, request: web.Request) -> web.Response:
        settings = await request.json()
        for path, answers in settings.pop("script", {}).items():
            self.script[path].extend(answers)
        if settings.pop("expire_tokens", False):
            self.valid_tokens.clear()
        for name in ("always_fail_to", "refuse_to", "unsubscribed", "stale"):
            if name in settings:
                setattr(self, name, set(settings.pop(name)))
        for name, value in settings.items():
            setattr(self, name, value)
        return web.json_response({"ok": True})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response({
            "requests": self.requests, "delivered": self.delivered, "deliveries": self.deliveries,
            "arrivals": self.arrivals, "tokens_issued": self.tokens_issued})


async def main() -> None:
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/sms", gw.webhook)
    app.router.add_post("/push", gw.webhook)
    app.router.add_post("/cgi-bin/stable_token", gw.token)
    app.router.add_post("/cgi-bin/message/custom/send", gw.wechat_send)
    app.router.add_post("/cgi-bin/message/template/send", gw.wechat_send)
    app.router.add_post("/_config", gw.configure)
    app.router.add_get("/_state", gw.state)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
