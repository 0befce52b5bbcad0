"""Channel adapters: each channel's own wire format in, one :class:`Inbound` out.

- WeChat Official Account push messages (XML: ToUserName, FromUserName = openid, CreateTime,
  MsgType, Content / Recognition, MsgId), with the server-token signature check WeChat uses;
- email in RFC 5322 form (encoded-word Chinese subjects, multipart/alternative, quoted replies
  stripped, sender trusted only with a passing DKIM/SPF result);
- call-centre transcripts (JSON: call id, caller number, IVR verification, agent, disposition,
  speaker segments);
- app, web and branch messages (JSON).

An adapter only translates; who the sender is, which conversation it belongs to and what happens
next is decided in :mod:`brokercare.service.service`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from xml.etree import ElementTree

from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import DomainError, ValidationFailed

log = logging.getLogger(__name__)

CHANNELS = ("app", "web", "wechat", "phone", "branch", "email")

#: How a channel reads on a screen or in a summary (never the code itself).
CHANNEL_ZH = {"app": "APP", "web": "网页", "wechat": "微信", "phone": "电话", "branch": "营业部", "email": "邮件",
              "sms": "短信"}


class ChannelNotConfigured(DomainError):
    status_code = 503
    title = "Service unavailable"
MAX_TEXT = 4000


@dataclass(frozen=True)
class Identity:
    """A channel identity of the sender. ``verified``: the channel proved it (login, IVR, DKIM)."""

    kind: str  # customer_id, account_no, wechat_openid, phone, email
    value: str
    verified: bool = False


@dataclass
class Part:
    """One utterance of a transcript; plain messages have one customer part."""

    speaker: str  # customer, agent
    text: str
    at: datetime
    # The text as typed, sealed by the field cipher, when personal numbers in it were masked.
    original_enc: str | None = None


@dataclass
class Inbound:
    channel: str
    external_id: str | None
    sent_at: datetime
    identities: list[Identity]
    parts: list[Part]
    display_name: str | None = None
    subject: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def customer_text(self) -> str:
        return "\n".join(p.text for p in self.parts if p.speaker == "customer").strip()


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\u3000", " ").strip()
    return text[:MAX_TEXT]


# --- WeChat Official Account ---------------------------------------------------------------------

def wechat_signature_ok(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """WeChat signs each push with sha1 of the sorted (token, timestamp, nonce)."""
    digest = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return hmac.compare_digest(digest.encode(), (signature or "").encode("utf-8", "replace"))


def parse_wechat(xml: bytes | str) -> Inbound | None:
    """A WeChat push message; ``None`` for pushes that carry nothing to answer (menu clicks,
    location reports, unsubscribe)."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ValidationFailed(f"WeChat push is not well-formed XML: {exc}") from exc

    def field_(name: str, required: bool = True) -> str | None:
        node = root.find(name)
        if node is None or node.text is None:
            if required:
                raise ValidationFailed(f"WeChat push lacks <{name}>")
            return None
        return node.text.strip()

    openid, account = field_("FromUserName"), field_("ToUserName")
    msg_type = field_("MsgType")
    try:
        sent_at = datetime.fromtimestamp(int(field_("CreateTime")), tz=UTC)
    except ValueError as exc:
        raise ValidationFailed("WeChat <CreateTime> is not a Unix timestamp") from exc
    meta: dict = {"official_account": account, "msg_type": msg_type}
    if msg_type == "text":
        text = field_("Content")
    elif msg_type == "voice":
        text = field_("Recognition", required=False)
        meta["media_id"] = field_("MediaId", required=False)
        if not text:
            text = "[语音消息]"
    elif msg_type == "image":
        text = "[图片]"
        meta["pic_url"] = field_("PicUrl", required=False)
    elif msg_type == "event":
        event = (field_("Event", required=False) or "").lower()
        if event != "subscribe":
            return None
        text = "[关注公众号]"
        meta["event"] = "subscribe"
    else:
        return None
    msg_id = field_("MsgId", required=False)
    # Event pushes have no MsgId; WeChat's own dedupe key for them is FromUserName + CreateTime.
    external = msg_id or f"{openid}:{int(sent_at.timestamp())}:{msg_type}"
    return Inbound(
        channel="wechat",
        external_id=f"wx:{external}",
        sent_at=sent_at,
        identities=[Identity("wechat_openid", openid, verified=True)],
        parts=[Part("customer", _clean(text or ""), sent_at)],
        meta=meta,
    )


def wechat_reply_xml(inbound_meta: dict, openid: str, text: str, now: datetime) -> str:
    """The passive text reply WeChat expects in the HTTP response (within its 5 s window)."""

    def cdata(value: str) -> str:
        return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"

    return (
        f"<xml><ToUserName>{cdata(openid)}</ToUserName>"
        f"<FromUserName>{cdata(inbound_meta.get('official_account') or '')}</FromUserName>"
        f"<CreateTime>{int(now.timestamp())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(text)}</Content></xml>"
    )


# --- Email (RFC 5322) ----------------------------------------------------------------------------

class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("br", "p", "div", "li", "tr"):
            self.chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)


_QUOTE_MARKERS = re.compile(
    r"^(-{2,}\s*原始邮件\s*-{2,}|-{2,}\s*Original Message\s*-{2,}|在.{0,60}写道[:：]\s*$|On .{0,80} wrote:\s*$|发件人[:：])",
    re.MULTILINE,
)


def _strip_quoted(body: str) -> str:
    match = _QUOTE_MARKERS.search(body)
    if match:
        body = body[: match.start()]
    lines = [ln for ln in body.splitlines() if not ln.lstrip().startswith(">")]
    return "\n".join(lines).strip()


# How DKIM public keys are looked up (dkimpy's DNS TXT query); a deployment behind a resolver of
# its own, or a test with its own zone, sets another.
dkim_dns: Callable[..., bytes | None] | None = None


def _authenticated(raw: bytes, from_address: str) -> bool:
    """True when BrokerCare itself verifies a DKIM signature of the message by the From domain
    (or a parent of it). ``Authentication-Results`` headers are ignored: whoever posts the
    message can write them."""
    import dkim

    domain = from_address.rpartition("@")[2].lower().encode()
    kwargs = {"dnsfunc": dkim_dns} if dkim_dns is not None else {}
    try:
        verifier = dkim.DKIM(raw, timeout=5)
        signatures = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
        for index in range(signatures):
            if verifier.verify(idx=index, **kwargs):
                signer = (verifier.domain or b"").lower()
                if domain == signer or domain.endswith(b"." + signer):
                    return True
    except (dkim.DKIMException, ValueError, OSError) as exc:
        log.info("DKIM check failed: %s", exc)
    return False


def parse_email(raw: bytes) -> Inbound:
    """An RFC 5322 message: text/plain preferred, else text/html flattened."""
    if not raw or not raw.strip():
        raise ValidationFailed("email is empty")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    name, address = parseaddr(str(msg.get("From", "")))
    if not address or "@" not in address:
        raise ValidationFailed("email has no usable From address")
    subject = str(msg.get("Subject", "") or "").strip()
    body_part = msg.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        try:
            content = body_part.get_content()
        except (LookupError, UnicodeError):  # an unknown or lying charset: keep what decodes
            payload = body_part.get_payload(decode=True) or b""
            content = payload.decode("gb18030", errors="replace")
        if body_part.get_content_type() == "text/html":
            parser = _TextOfHtml()
            parser.feed(content)
            content = "".join(parser.chunks)
        body = _strip_quoted(content)
    text = _clean(f"{subject}\n{body}" if subject and subject not in body else body or subject)
    if not text:
        raise ValidationFailed("email has neither subject nor text")
    try:
        sent_at = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else datetime.now(UTC)
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=SHANGHAI)
    except (TypeError, ValueError):
        sent_at = datetime.now(UTC)
    message_id = str(msg.get("Message-ID", "") or "").strip() or None
    attachments = [p.get_filename() for p in msg.iter_attachments() if p.get_filename()]
    return Inbound(
        channel="email",
        external_id=f"mail:{message_id}" if message_id else None,
        sent_at=sent_at,
        identities=[Identity("email", address.lower(), verified=_authenticated(raw, address))],
        parts=[Part("customer", text, sent_at)],
        display_name=name or None,
        subject=subject or None,
        meta={
            "message_id": message_id,
            "in_reply_to": str(msg.get("In-Reply-To", "") or "") or None,
            "attachments": attachments,
        },
    )


# --- Call-centre transcript ----------------------------------------------------------------------

def parse_call_transcript(data: dict) -> Inbound:
    """A finished call as the call-centre platform exports it (see docs/service-hub.md)."""
    from pydantic import ValidationError

    from brokercare.service.schemas import CallTranscript

    try:
        call = CallTranscript.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "transcript"
        raise ValidationFailed(f"call transcript {where}: {first['msg']}") from exc
    identities = [Identity("phone", call.caller_number, verified=call.ivr_verified)]
    if call.account_no:
        identities.insert(0, Identity("account_no", call.account_no, verified=call.ivr_verified))
    start = call.started_at
    parts = [
        Part(s.speaker, _clean(s.text), start + _seconds(s.start_s))
        for s in call.segments
        if s.text.strip()
    ]
    if not any(p.speaker == "customer" for p in parts):
        raise ValidationFailed("transcript has no customer speech")
    return Inbound(
        channel="phone",
        external_id=f"call:{call.call_id}",
        sent_at=start,
        identities=identities,
        parts=parts,
        meta={
            "call_id": call.call_id,
            "agent": call.agent.model_dump(),
            "queue": call.queue,
            "ended_at": call.ended_at.isoformat(),
            "duration_s": int((call.ended_at - call.started_at).total_seconds()),
            "disposition": call.disposition,
        },
    )


def _seconds(value: float):
    from datetime import timedelta

    return timedelta(seconds=value)


# --- App, web, branch ----------------------------------------------------------------------------

# A client's clock may lag (a message queued offline) but not by more than this, nor run ahead.
SENT_AT_PAST = timedelta(days=7)
SENT_AT_FUTURE = timedelta(minutes=5)


def plausible_sent_at(sent_at: datetime | None) -> datetime | None:
    """A send time a client claims (the JSON API), if believable (naive times are Beijing time),
    else refused: a message dated 0001 or 9999 would reorder threads and cheat SLA clocks."""
    now = datetime.now(UTC)
    if sent_at is None:
        return None
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=SHANGHAI)
    if not now - SENT_AT_PAST <= sent_at <= now + SENT_AT_FUTURE:
        raise ValidationFailed("消息时间不合理：只能是最近 7 天内、且不晚于当前时间。(sent_at out of range)")
    return sent_at.astimezone(UTC)


def from_json_message(channel: str, text: str, *, sent_at: datetime | None = None,
                      client_msg_id: str | None = None, identities: list[Identity],
                      display_name: str | None = None, meta: dict | None = None) -> Inbound:
    if channel not in CHANNELS:
        raise ValidationFailed(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
    text = _clean(text or "")
    if not text:
        raise ValidationFailed("消息内容不能为空")
    at = sent_at or datetime.now(UTC)
    external = None
    if client_msg_id:  # a client's ids are unique per sender only
        sender = hashlib.sha256("|".join(f"{i.kind}={i.value}" for i in identities).encode())
        external = f"{channel}:{sender.hexdigest()[:16]}:{client_msg_id}"
    return Inbound(
        channel=channel,
        external_id=external,
        sent_at=at,
        identities=identities,
        parts=[Part("customer", text, at)],
        display_name=display_name,
        meta=meta or {},
    )
