"""Real local gateways for the outbox tests: an HTTP server (SMS and push webhooks, the WeChat
Official Account API) in its own process, and an SMTP server (aiosmtpd).

The HTTP gateway (:mod:`tests.outbox.gateway_server`) runs as a separate process, as a broker's
gateway would: in the test's own process its event loop would share the interpreter lock with the
dispatcher's and both would crawl. :class:`HttpGateway` starts it, scripts it and reads what it
received through its ``/_config`` and ``/_state`` endpoints.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]


class HttpGateway:
    """SMS at ``/sms``, push at ``/push``, WeChat at ``/cgi-bin/...``."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.outbox.gateway_server"], cwd=ROOT,
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.port = int(self.process.stdout.readline())
        self.control = httpx.Client(base_url=self.url, timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(self, **settings) -> None:
        """honour_keys, latency_s, hang_s; always_fail_to, refuse_to, unsubscribed, stale (lists)."""
        self.control.post("/_config", json=settings).raise_for_status()

    def script(self, path: str, *answers: str) -> None:
        """The next requests to ``path`` get these answers in order: '500', '429', 'hang', 'ok'."""
        self.configure(script={path: list(answers)})

    def expire_tokens(self) -> None:
        self.configure(expire_tokens=True)

    def state(self) -> dict:
        return self.control.get("/_state").json()

    @property
    def requests(self) -> Counter[str]:
        """Idempotency key -> requests received."""
        return Counter(self.state()["requests"])

    @property
    def delivered(self) -> dict[str, dict]:
        """Idempotency key -> the message delivered for it."""
        return self.state()["delivered"]

    @property
    def deliveries(self) -> list[str]:
        """Every delivery in order: a key twice is a message sent twice."""
        return self.state()["deliveries"]

    @property
    def arrivals(self) -> list[tuple[str, float]]:
        return [tuple(a) for a in self.state()["arrivals"]]

    @property
    def tokens_issued(self) -> int:
        return self.state()["tokens_issued"]

    def close(self) -> None:
        self.control.close()
        self.process.terminate()
        self.process.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
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
