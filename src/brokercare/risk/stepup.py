"""The second factor asked by a ``step_up`` decision: a six-digit SMS code or an authenticator
app's time-based code (TOTP, RFC 6238, through ``pyotp``).

SMS codes leave through whatever sender is registered with :func:`set_sms_sender` — the outbox
registers its SMS channel at start-up, queueing the code in the challenge's own transaction (risk
sits below the outbox, so it cannot call it); without one, SMS is refused and TOTP remains. The code is
stored only as a keyed hash; five wrong answers or five minutes end the challenge. Passing it
lifts the step-up and, for a login, lets the login into the customer's baseline (its device and
place become known).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from datetime import timedelta

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied
from brokercare.ledger.service import append as ledger_append
from brokercare.risk import baseline
from brokercare.risk.models import (
    RiskBaseline,
    RiskEvent,
    RiskMeasure,
    StepUpChallenge,
    TotpEnrolment,
)
from brokercare.risk.places import locate
from brokercare.risk.schemas import StepUpOut, StepUpResult
from brokercare.security.service import blind_index, get_cipher

CODE_MINUTES = 5
MAX_ATTEMPTS = 5
ISSUER = "BrokerCare"
SmsSender = Callable[[Session, int, str], None]  # (the challenge's session, customer id, text)
_sms_sender: SmsSender | None = None


def set_sms_sender(sender: SmsSender | None) -> None:
    """Register how SMS codes are sent (the outbox's SMS channel); ``None`` removes it."""
    global _sms_sender
    _sms_sender = sender


def enrol_totp(session: Session, customer_id: int) -> str:
    """A new authenticator secret for the customer; returns the ``otpauth://`` URI for the QR code."""
    secret = pyotp.random_base32()
    row = session.get(TotpEnrolment, customer_id)
    sealed = get_cipher(session).encrypt(secret)
    if row is None:
        session.add(TotpEnrolment(customer_id=customer_id, secret_enc=sealed))
    else:
        row.secret_enc, row.enrolled_at = sealed, utcnow()
    session.flush()
    return pyotp.TOTP(secret).provisioning_uri(name=f"customer-{customer_id}", issuer_name=ISSUER)


def _measure(session: Session, measure_id: int, customer_id: int) -> RiskMeasure:
    measure = session.get(RiskMeasure, measure_id)
    if measure is None or measure.kind != "step_up" or measure.customer_id != customer_id:
        raise NotFound("没有待完成的二次验证。(no such step-up for this customer)")
    if measure.status != "pending":
        raise Conflict(f"该二次验证已结束（{measure.status}）。")
    return measure


def start(session: Session, *, measure_id: int, customer_id: int, method: str = "sms") -> StepUpOut:
    """Open a challenge for a pending step-up; for SMS, send the code through the registered sender."""
    _measure(session, measure_id, customer_id)
    now = utcnow()
    challenge = StepUpChallenge(measure_id=measure_id, customer_id=customer_id, method=method,
                                expires_at=now + timedelta(minutes=CODE_MINUTES), created_at=now)
    if method == "totp":
        if session.get(TotpEnrolment, customer_id) is None:
            raise Conflict("您尚未绑定身份验证器，请选择短信验证码。(no TOTP enrolment)")
        message = "请打开身份验证器，输入当前显示的6位动态口令。"
    else:
        if _sms_sender is None:
            raise Conflict("短信通道暂不可用，请使用身份验证器动态口令。(no SMS sender registered)")
        code = f"{secrets.randbelow(10**6):06d}"
        session.add(challenge)
        session.flush()
        challenge.code_hash = blind_index(f"step-up:{challenge.id}:{code}")
        _sms_sender(session, customer_id, f"您的验证码为{code}，{CODE_MINUTES}分钟内有效，仅用于本次安全验证。"
                                 "如非本人操作，请勿告知他人并立即修改密码。")
        message = "验证码已发送到您预留的手机号，请在5分钟内输入。"
    session.add(challenge)
    session.flush()
    return StepUpOut(challenge_id=challenge.id, method=method, expires_at=challenge.expires_at, message=message)


def _correct(session: Session, challenge: StepUpChallenge, code: str) -> bool:
    if challenge.method == "totp":
        row = session.get(TotpEnrolment, challenge.customer_id)
        secret = get_cipher(session).decrypt(row.secret_enc) if row else None
        return bool(secret) and pyotp.TOTP(secret).verify(code, valid_window=1)
    return secrets.compare_digest(challenge.code_hash or "", blind_index(f"step-up:{challenge.id}:{code}"))


def verify(session: Session, *, challenge_id: int, customer_id: int, code: str) -> StepUpResult:
    """Check an answer; passing lifts the step-up (and teaches the baseline this login)."""
    challenge = session.get(StepUpChallenge, challenge_id)
    if challenge is None or challenge.customer_id != customer_id:
        raise NotFound("验证请求不存在。(no such challenge)")
    if challenge.status != "pending":
        raise Conflict(f"该验证已结束（{challenge.status}），请重新获取验证码。")
    measure = _measure(session, challenge.measure_id, customer_id)
    if utcnow() > challenge.expires_at:
        challenge.status = "expired"
        session.flush()
        return StepUpResult(passed=False, status="expired", message="验证码已过期，请重新获取。")
    challenge.attempts += 1
    if not _correct(session, challenge, code):
        if challenge.attempts >= MAX_ATTEMPTS:
            challenge.status = measure.status = "failed"
            measure.resolved_at, measure.resolution = utcnow(), f"{MAX_ATTEMPTS} wrong codes"
            ledger_append(session, "risk.step_up_failed", f"customer:{customer_id}",
                          {"measure_id": measure.id, "customer_id": customer_id, "method": challenge.method})
            session.flush()
            raise PermissionDenied("验证码错误次数过多，本次操作已终止。如非本人操作，请立即修改密码并联系客服。")
        session.flush()
        return StepUpResult(passed=False, status="pending",
                            message=f"验证码错误，还可尝试{MAX_ATTEMPTS - challenge.attempts}次。")
    challenge.status = measure.status = "passed"
    measure.resolved_at, measure.resolution = utcnow(), f"passed by {challenge.method}"
    _learn(session, measure)
    ledger_append(session, "risk.step_up_passed", f"customer:{customer_id}",
                  {"measure_id": measure.id, "customer_id": customer_id, "method": challenge.method})
    session.flush()
    return StepUpResult(passed=True, status="passed", message="验证通过。")


def _learn(session: Session, measure: RiskMeasure) -> None:
    """A verified login enters the baseline as if it had been allowed."""
    event = session.get(RiskEvent, measure.event_id) if measure.event_id else None
    if event is None or event.type != "login":
        return
    row = session.scalars(select(RiskBaseline).where(RiskBaseline.customer_id == measure.customer_id)).first()
    if row is None:
        return
    state = copy.deepcopy(row.state or {})
    hour = (event.occurred_at.timestamp() // 3600 + 8) % 24
    baseline.register_login(state, t=event.occurred_at.timestamp(), hour=int(hour),
                            device=event.device_id, place=locate(event.ip))
    row.state = state
