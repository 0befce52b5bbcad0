"""Channel adapters: how one message leaves for the broker's SMS gateway, the app push gateway,
the WeChat Official Account API or an SMTP relay.

Each adapter turns an :class:`Outgoing` into one request that carries the message's idempotency
key (``Idempotency-Key`` header; for e-mail a ``Message-ID`` derived from it), and classifies the
answer: a provider id when the gateway took the message, :class:`Transient` when trying again
later may work (timeouts, 5xx, 429, connection refused), :class:`Permanent` when it never will
(4xx, an unknown recipient, a WeChat user who unsubscribed). Which channels exist is settled by the
environment (see :func:`build_adapters`); the dispatcher holds the messages of the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib

from brokercare.core.calendar import SHANGHAI
from brokercare.core.settings import Settings

CHANNELS = ("app", "sms", "wechat", "email")
#: The setting an operator sets to enable each channel.
CHANNEL_SETTINGS = {
    "app": "BROKERCARE_PUSH_URL",
    "sms": "BROKERCARE_SMS_URL",
    "wechat": "BROKERCARE_WECHAT_APPID and BROKERCARE_WECHAT_SECRET",
    "email": "BROKERCARE_SMTP_URL",
}


@dataclass(frozen=True)
class Outgoing:
    """One message as an adapter sends it; ``to`` is the clear address, held in memory only."""

    id: int
    key: str
    channel: str
    kind: str
    to: str
    subject: str | None
    body: str
    urgent: bool
    origin: str
    origin_ref: str | None
    attempt: int = 1  # this is the message's n-th try


class SendFailed(Exception):
    """The gateway did not take the message."""


class Transient(SendFailed):
    """Worth trying again later; ``retry_after`` (seconds) when the gateway said when."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(SendFailed):
    """Will never succeed as it is: dead-letter the message at once."""


class Adapter(Protocol):
    channel: str
    #: Requests this adapter lets be in flight at once (beside the dispatcher's own limit).
    max_in_flight: int

    async def send(self, message: Outgoing) -> str:
        """Hand the message to the gateway; return the provider's message id."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Answer:
    """A gateway's answer, read whole while its connection was held."""

    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> object:
        return json.loads(self.text)


def _retry_after(answer: Answer) -> float | None:
    value = answer.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _readable(answer: Answer) -> str:
    """The answer's body for an operator: JSON with its Chinese unescaped, at most 200 chars."""
    try:
        text = json.dumps(answer.json(), ensure_ascii=False)
    except ValueError:
        text = answer.text
    return text[:200].replace("\n", " ")


def _http_verdict(answer: Answer, what: str) -> None:
    """Raise for an answer that did not take the message; return for 2xx."""
    if answer.is_success:
        return
    problem = f"{what} answered HTTP {answer.status}: {_readable(answer)}"
    if answer.status in (408, 425, 429) or answer.status >= 500:
        raise Transient(problem, retry_after=_retry_after(answer))
    raise Permanent(problem)


class HttpClient:
    """One aiohttp session per adapter, opened on first use inside the dispatcher's event loop.

    aiohttp rather than httpx: measured on the 2-core machine to the same local gateway, a request
    cost 0.21 ms of CPU through aiohttp's C-accelerated client against 1.2 ms through httpx, which
    capped the dispatcher at ~200 messages/s (bench/RESULTS.md, "outbox dispatcher").
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.tls = ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No connector limit: the dispatcher's workers bound the requests in flight.
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(limit=0, ssl=self.tls))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


async def _post(client: HttpClient, url: str, what: str, **kwargs) -> Answer:
    """POST and translate transport failures (refused, reset, timed out) to :class:`Transient`."""
    try:
        async with client.session().post(url, **kwargs) as response:
            return Answer(response.status, response.headers, await response.text())
    except TimeoutError as exc:
        raise Transient(f"{what} did not answer in time ({type(exc).__name__})") from exc
    except aiohttp.ClientError as exc:
        raise Transient(f"{what} unreachable: {type(exc).__name__}: {exc}") from exc


def _provider_id(answer: Answer, fallback: str) -> str:
    try:
        data = answer.json()
    except ValueError:
        return fallback
    if isinstance(data, dict):
        for field in ("message_id", "id", "msgid"):
            if data.get(field) not in (None, ""):
                return str(data[field])[:128]
    return fallback


class WebhookAdapter:
    """A gateway that takes one JSON message per POST (the broker's SMS platform, app push)."""

    max_in_flight = 1024

    def __init__(self, channel: str, url: str, http: HttpClient, *,
                 sms_signature: str | None = None) -> None:
        self.channel, self.url, self.http = channel, url, http
        self.sms_signature = sms_signature

    def request(self, m: Outgoing) -> dict:
        if self.channel == "sms":
            text = m.body if m.body.startswith("【") else f"【{self.sms_signature}】{m.body}"
            # 70 characters fit one segment; longer texts go in segments of 67.
            segments = 1 if len(text) <= 70 else -(-len(text) // 67)
            return {"id": m.key, "to": m.to, "text": text, "segments": segments, "kind": m.kind}
        return {"id": m.key, "to": m.to, "title": m.subject or "", "body": m.body,
                "priority": "high" if m.urgent else "normal",
                "data": {"kind": m.kind, "origin": m.origin, "ref": m.origin_ref}}

    async def send(self, message: Outgoing) -> str:
        what = f"{self.channel} gateway"
        response = await _post(self.http, self.url, what, json=self.request(message),
                               headers={"Idempotency-Key": message.key})
        _http_verdict(response, what)
        return _provider_id(response, message.key)

    async def aclose(self) -> None:
        await self.http.aclose()


# WeChat errcodes (developers.weixin.qq.com, 全局返回码) the adapter treats specially.
WECHAT_TOKEN_INVALID = {40001, 40014, 42001}
WECHAT_TRY_LATER = {-1, 45009, 45011}
WECHAT_OUTSIDE_WINDOW = 45015
_tokens: dict[tuple[str, str], tuple[str, float]] = {}


class WeChatAdapter:
    """Customer-service text messages through the Official Account API, and a template message for
    a customer who has not written to the account in the last 48 hours (errcode 45015: WeChat
    takes customer-service messages only inside that window) when a template is configured.

    The access token comes from ``/cgi-bin/stable_token``, which hands every process the same
    token until it expires (the older ``/cgi-bin/token`` issues a new one per call, so several
    dispatchers would keep invalidating each other's). It is cached per process until five minutes
    before it expires, and fetched afresh once when WeChat says it is no longer valid.
    """

    channel = "wechat"
    max_in_flight = 64

    def __init__(self, base: str, appid: str, secret: str, http: HttpClient, *,
                 template_id: str | None = None) -> None:
        self.base, self.appid, self.secret, self.http = base.rstrip("/"), appid, secret, http
        self.template_id = template_id
        self._lock = asyncio.Lock()

    async def _token(self, *, refused: str | None = None) -> str:
        """The cached token; a new one if there is none, or if WeChat just ``refused`` the cached
        one (forced refreshes are rationed: concurrent sends that saw the same refusal share one)."""
        key = (self.base, self.appid)
        force = refused is not None
        async with self._lock:
            cached = _tokens.get(key)
            if cached and cached[1] > time.monotonic() and cached[0] != refused:
                return cached[0]
            response = await _post(
                self.http, f"{self.base}/cgi-bin/stable_token", "WeChat token API",
                json={"grant_type": "client_credential", "appid": self.appid,
                      "secret": self.secret, "force_refresh": force})
            _http_verdict(response, "WeChat token API")
            data = response.json()
            if not data.get("access_token"):
                # A wrong AppID/AppSecret affects every message: retry (and say why) rather than
                # dead-letter the whole queue over a setting an operator will correct.
                raise Transient(f"WeChat refused an access token: errcode {data.get('errcode')} "
                                f"{data.get('errmsg', '')}")
            ttl = float(data.get("expires_in", 7200))
            _tokens[key] = (data["access_token"], time.monotonic() + max(ttl - 300, ttl / 2))
            return data["access_token"]

    def template(self, m: Outgoing) -> dict:
        sent = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        return {"touser": m.to, "template_id": self.template_id,
                "data": {"first": {"value": m.subject or "BrokerCare证券通知"},
                         "keyword1": {"value": m.body}, "keyword2": {"value": sent}}}

    async def _call(self, path: str, payload: dict, key: str) -> dict:
        """POST to the API with a valid token (fetched again once if WeChat refuses it)."""
        token = None
        for _ in range(2):
            token = await self._token(refused=token)
            response = await _post(self.http, f"{self.base}{path}", "WeChat API",
                                   params={"access_token": token}, json=payload,
                                   headers={"Idempotency-Key": key})
            _http_verdict(response, "WeChat API")
            data = response.json()
            if int(data.get("errcode", 0)) not in WECHAT_TOKEN_INVALID:
                break
        return data

    async def send(self, message: Outgoing) -> str:
        data = await self._call("/cgi-bin/message/custom/send", {
            "touser": message.to, "msgtype": "text", "text": {"content": message.body}}, message.key)
        if int(data.get("errcode", 0)) == WECHAT_OUTSIDE_WINDOW and self.template_id:
            data = await self._call("/cgi-bin/message/template/send", self.template(message),
                                    message.key)
        code = int(data.get("errcode", 0))
        if code == 0:
            return str(data.get("msgid") or f"wechat:{message.key}")[:128]
        problem = f"WeChat errcode {code}: {data.get('errmsg', '')}"
        if code in WECHAT_TRY_LATER or code in WECHAT_TOKEN_INVALID:
            raise Transient(problem)
        # 43004 unsubscribed, 45015 no interaction within 48 h, 40003 unknown openid, ...
        raise Permanent(problem)

    async def aclose(self) -> None:
        await self.http.aclose()


def message_id_for(key: str, sender: str) -> str:
    """A stable RFC 5322 Message-ID for an idempotency key (the key may hold characters a
    Message-ID may not), on the sender's domain, so a resent e-mail is recognisably the same."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "brokercare.local"
    return f"<outbox.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class EmailAdapter:
    """One e-mail per message through an SMTP relay (``smtps://`` implicit TLS, ``smtp://`` with
    STARTTLS when the relay offers it)."""

    channel = "email"
    max_in_flight = 4  # relays limit concurrent sessions per client

    def __init__(self, url: str, sender: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"BROKERCARE_SMTP_URL must be smtp://host[:port] or smtps://…, got {url!r}")
        self.tls = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender, self.timeout = sender, timeout

    def compose(self, m: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = m.to
        mail["Subject"] = m.subject or "BrokerCare证券通知"
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id_for(m.key, self.sender)
        mail["Idempotency-Key"] = m.key
        mail.set_content(m.body, charset="utf-8")
        return mail

    async def send(self, message: Outgoing) -> str:
        mail = self.compose(message)
        try:
            await aiosmtplib.send(mail, hostname=self.host, port=self.port, username=self.username,
                                  password=self.password, use_tls=self.tls, timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            problem = f"SMTP relay refused the recipient: {codes} {exc.recipients[0].message}"
            raise (Transient(problem) if all(400 <= c < 500 for c in codes) else Permanent(problem)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            problem = f"SMTP relay answered {exc.code}: {exc.message}"
            # 5xx refuses this message, except a refused login or sender: settings to fix, not
            # messages to drop.
            setting = (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPSenderRefused)
            if 500 <= exc.code < 600 and not isinstance(exc, setting):
                raise Permanent(problem) from exc
            raise Transient(problem) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise Transient(f"SMTP relay unreachable: {type(exc).__name__}: {exc}") from exc
        return mail["Message-ID"]

    async def aclose(self) -> None:
        return None


def configured_channels(settings: Settings) -> set[str]:
    ready = set()
    if settings.push_url:
        ready.add("app")
    if settings.sms_url:
        ready.add("sms")
    if settings.wechat_appid and settings.wechat_secret:
        ready.add("wechat")
    if settings.smtp_url:
        ready.add("email")
    return ready


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    """The adapters of the channels the environment configures."""
    ready = configured_channels(settings)
    adapters: dict[str, Adapter] = {}
    if "app" in ready:
        adapters["app"] = WebhookAdapter("app", settings.push_url, HttpClient(settings.outbox_timeout_s))
    if "sms" in ready:
        adapters["sms"] = WebhookAdapter("sms", settings.sms_url, HttpClient(settings.outbox_timeout_s),
                                         sms_signature=settings.sms_signature)
    if "wechat" in ready:
        adapters["wechat"] = WeChatAdapter(settings.wechat_api_base, settings.wechat_appid,
                                           settings.wechat_secret, HttpClient(settings.outbox_timeout_s),
                                           template_id=settings.wechat_template_id)
    if "email" in ready:
        adapters["email"] = EmailAdapter(settings.smtp_url, settings.smtp_from,
                                         settings.outbox_timeout_s)
    return adapters
