"""The applicant's side of an online opening: one function per step, each in the caller's
transaction, each publishing its ``journey.step`` once the caller commits (the funnel of
docs/quality.md counts where applicants stop).

Resumable at every step: the applicant comes back with their phone and password and lands on the
first step not done. A step refused for bad input writes nothing; a step whose checks cannot
decide records why, and the application goes to the back office when it is submitted.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.advisory import service as advisory
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import AuthenticationFailed, Conflict, DomainError, ValidationFailed
from brokercare.core.identifiers import normalise_mobile
from brokercare.core.journeys import journey_step
from brokercare.core.quota import count_use
from brokercare.customers import service as customers
from brokercare.ledger.service import append_many
from brokercare.onboarding import csdc
from brokercare.onboarding.checks import (
    PROVINCES,
    Refused,
    Review,
    check_bank_card,
    check_identity,
    city_of,
    rules,
)
from brokercare.onboarding.checks import agreement_texts as agreement_texts
from brokercare.onboarding.id_verification import MAX_PICTURE_BYTES, IdentityVendor
from brokercare.onboarding.models import OpeningApplication, SignedAgreement, StartQuota
from brokercare.security.service import (
    blind_index,
    create_user,
    get_cipher,
    hash_password,
    validate_password,
    verify_password,
)

log = logging.getLogger(__name__)

#: The applicant's steps in order: the state each one leaves the application in.
STEPS = ("started", "identity_verified", "risk_assessed", "agreement_signed", "bank_bound")
FINAL = ("in_review", "opened", "rejected")
STEP_ZH = {"started": "填写身份信息", "identity_verified": "风险测评", "risk_assessed": "签署协议",
           "agreement_signed": "绑定存管银行", "bank_bound": "确认提交", "in_review": "人工审核中",
           "opened": "开户完成", "rejected": "未通过审核"}


def _today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _publish(session: Session, app: OpeningApplication, step: str, at: datetime | None = None) -> None:
    publish_after_commit(session, journey_step("account_opening", step, ref=f"opening:{app.application_no}",
                                               at=at or utcnow(), customer_id=app.customer_id,
                                               channel=app.channel))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(app: OpeningApplication) -> str:
    token = secrets.token_urlsafe(32)
    app.resume_token_hash = _token_hash(token)
    return token


def _expect(app: OpeningApplication, state: str) -> None:
    """The step may run only right after ``state``; say where the applicant is instead."""
    if app.state != state:
        raise Conflict(f"您的开户申请当前在“{STEP_ZH.get(app.state, app.state)}”这一步，请从这一步继续。",
                       extra={"state": app.state})


@dataclass(frozen=True)
class Session_:
    """An application and the token that continues it (shown once, stored hashed)."""

    application: OpeningApplication
    token: str


class TooManyStarts(DomainError):
    status_code = 429
    title = "Too many requests"


_PERIODS = (("hour", timedelta(hours=1), "1 小时"), ("day", timedelta(days=1), "24 小时"))


def _admit_ip(session: Session, ip: str | None, now: datetime) -> None:
    """Count one application started from ``ip`` in its hour and its day (the counts roll back with
    a start refused later, so only started applications count); refuse past either limit."""
    if not ip:
        return
    limits = rules().start_limits
    ip_hash = blind_index(f"opening-ip:{ip}")
    for period, window, zh in _PERIODS:
        limit = limits.per_hour if period == "hour" else limits.per_day
        if count_use(session, StartQuota, {"ip_hash": ip_hash, "period": period}, window, now) > limit:
            raise TooManyStarts(f"您所在的网络在 {zh}内发起的开户申请已达 {limit} 份上限，请稍后再试。"
                                "已经开始的申请不受影响，可选择“继续开户”用手机号和密码继续。",
                                extra={"retry_after_s": int(window.total_seconds())})


def start(session: Session, *, phone: str, password: str, channel: str = "web", ip: str | None = None) -> Session_:
    """Begin an application for a mobile number, with the password the applicant will log in with;
    at most so many per source IP address an hour and a day (``start_limits`` in opening.yaml)."""
    _admit_ip(session, ip, utcnow())
    try:
        mobile = normalise_mobile(phone)
    except ValueError:
        raise ValidationFailed("请输入正确的 11 位手机号码。") from None
    try:
        validate_password(password, username=mobile)
    except ValidationFailed as exc:
        raise ValidationFailed(f"密码不符合要求：{exc.detail}") from None
    phone_hash = blind_index(mobile)
    earlier = set(session.scalars(select(OpeningApplication.state).where(OpeningApplication.phone_hash == phone_hash)))
    if "opened" in earlier:
        raise Conflict("这个手机号已经开户，请直接用手机号和密码登录。")
    if earlier - {"rejected"}:
        raise Conflict("这个手机号已有一份进行中的开户申请，请选择“继续开户”并输入您设置的密码。")
    app = OpeningApplication(application_no="P", phone_hash=phone_hash, phone_enc=get_cipher(session).encrypt(mobile),
                             password_hash=hash_password(password),
                             state="started", channel=channel[:12], review_reasons=[])
    token = _new_token(app)
    with session.begin_nested():
        session.add(app)
        session.flush()
        app.application_no = f"KH{_today():%Y%m%d}{app.id:06d}"
        session.flush()
    _publish(session, app, "started", app.started_at)
    return Session_(app, token)


def resume(session: Session, *, phone: str, password: str) -> Session_:
    """Continue the latest application of a phone after the password; locks after repeated failures."""
    wrong = AuthenticationFailed("手机号或密码不正确。")
    try:
        phone_hash = blind_index(normalise_mobile(phone))
    except ValueError:
        raise wrong from None
    app = session.scalar(select(OpeningApplication).where(OpeningApplication.phone_hash == phone_hash)
                         .order_by(OpeningApplication.id.desc()).limit(1))
    if app is None:
        raise wrong
    now, cfg = utcnow(), rules().resume
    if app.locked_until is not None and app.locked_until > now:
        raise AuthenticationFailed(f"密码错误次数过多，请在{app.locked_until.astimezone(SHANGHAI):%H:%M}后再试。")
    if not verify_password(app.password_hash, password):
        app.failed_resumes += 1
        if app.failed_resumes >= cfg["max_failures"]:
            app.failed_resumes, app.locked_until = 0, now + timedelta(minutes=cfg["lock_minutes"])
        session.flush()
        raise wrong
    app.failed_resumes, app.locked_until = 0, None
    token = _new_token(app)
    session.flush()
    return Session_(app, token)


def by_token(session: Session, token: str | None) -> OpeningApplication:
    app = None if not token else session.scalar(
        select(OpeningApplication).where(OpeningApplication.resume_token_hash == _token_hash(token)))
    if app is None:
        raise AuthenticationFailed("开户会话已失效，请选择“继续开户”，用手机号和密码登录后继续。")
    return app


@dataclass(frozen=True)
class IdentityForm:
    name: str
    id_number: str
    address: str
    occupation: str
    id_card: bytes  # the picture of the card's portrait side
    selfie: bytes  # the liveness capture


def verify_identity(session: Session, app: OpeningApplication, form: IdentityForm, *,
                    vendor: IdentityVendor) -> list[Review]:
    """ID details, the card's picture and a selfie: the customer row is created here (the
    questionnaire reads the birth date from it). Returns what the back office must look at."""
    _expect(app, "started")
    cfg = rules()
    if form.occupation not in cfg.occupations:
        raise ValidationFailed("请选择您的职业。")
    if not 5 <= len(form.address.strip()) <= 120:
        raise ValidationFailed("请填写常住地址（5–120 个字）。")
    for what, data in (("身份证照片", form.id_card), ("人脸照片", form.selfie)):
        if not data or len(data) > MAX_PICTURE_BYTES:
            raise ValidationFailed(f"请上传{what}（不超过 5 MB）。")
    reading = vendor.read_id_card(form.id_card)
    face = vendor.match_face(form.id_card, form.selfie)
    try:
        parsed, reviews = check_identity(name=form.name, id_number=form.id_number, today=_today(),
                                         reading=reading, face=face)
    except Refused as exc:
        raise ValidationFailed(str(exc)) from None
    province = PROVINCES.get(parsed.number[:2], "")
    customer = customers.register_applicant(
        session, name=form.name, id_number=parsed.number, phone=get_cipher(session).decrypt(app.phone_enc),
        address=form.address, province=province, city=city_of(form.address, province),
        occupation=form.occupation, branch_code=cfg.branch_code, today=_today())
    app.customer_id, app.id_number_hash = customer.id, customer.id_number_hash
    app.ocr = {"readable": reading.readable, "valid_until": reading.valid_until.isoformat() if reading.valid_until else None,
               "problems": [r.code for r in reviews if r.code.startswith("ocr")]}
    app.face_similarity, app.liveness = face.similarity, "passed" if face.live else "failed"
    app.review_reasons = [r.__dict__ for r in reviews]
    app.state = "identity_verified"
    session.flush()
    _publish(session, app, "identity_verified")
    return reviews


def assess_risk(session: Session, app: OpeningApplication, answers: dict, *, round_: int = 1):
    """The risk questionnaire, by the advisory domain (which owns the assessments and their
    rules); the step is done when the assessment is complete."""
    _expect(app, "identity_verified")
    result = advisory.assess(session, app.customer_id, answers, round_=round_, channel=app.channel)
    if result.status == "complete":
        app.risk_level, app.state = result.level, "risk_assessed"
        session.flush()
        _publish(session, app, "risk_assessed")
    return result


def sign_agreements(session: Session, app: OpeningApplication, signed: dict[str, str]) -> list[SignedAgreement]:
    """Sign every agreement: ``signed`` maps each code to the SHA-256 of the text the applicant was
    shown, so a text changed in between is not signed unseen. Each signature is a ledger entry
    with the text, its hash, the time and the signer."""
    _expect(app, "risk_assessed")
    texts = agreement_texts()
    missing = [t.title for t in texts if t.code not in signed]
    if missing:
        raise ValidationFailed(f"请阅读并勾选同意：{'、'.join(missing)}。")
    changed = [t.title for t in texts if signed[t.code] != t.sha256]
    if changed:
        raise Conflict(f"{'、'.join(changed)}的内容已更新，请重新阅读后再签署。")
    now = utcnow()
    entries = append_many(session, [("agreement.signed", f"customer:{app.customer_id}", {
        "application_no": app.application_no, "signer_customer_id": app.customer_id, "code": t.code,
        "version": t.version, "title": t.title, "sha256": t.sha256, "signed_at": now.isoformat(),
        "text": t.text}) for t in texts])
    rows = [SignedAgreement(application_id=app.id, customer_id=app.customer_id, code=t.code, version=t.version,
                            title=t.title, sha256=t.sha256, signed_at=now, ledger_index=e.index)
            for t, e in zip(texts, entries, strict=True)]
    session.add_all(rows)
    app.state = "agreement_signed"
    session.flush()
    _publish(session, app, "agreement_signed", now)
    return rows


def bind_bank(session: Session, app: OpeningApplication, *, bank: str, card_no: str) -> list[Review]:
    """The third-party custody card: Luhn and BIN (accounts' table); an unknown BIN goes to review."""
    _expect(app, "agreement_signed")
    check = accounts.check_card(card_no)
    try:
        reviews = check_bank_card(bank=bank, check=check)
    except Refused as exc:
        raise ValidationFailed(str(exc)) from None
    app.bank_name, app.card_tail = bank, check.number[-4:]
    app.card_enc, app.card_hash = get_cipher(session).encrypt(check.number), blind_index(check.number)
    app.review_reasons = [*app.review_reasons, *(r.__dict__ for r in reviews)]
    app.state = "bank_bound"
    session.flush()
    _publish(session, app, "bank_bound")
    return reviews


def submit(session: Session, app: OpeningApplication) -> OpeningApplication:
    """The applicant's last click: the account is issued now, or the application waits for the
    back office when a check could not clear it."""
    _expect(app, "bank_bound")
    app.submitted_at = utcnow()
    _publish(session, app, "submitted", app.submitted_at)
    if app.review_reasons:
        app.state = "in_review"
        session.flush()
        return app
    return issue_account(session, app)


def _shareholder_accounts(session: Session, app: OpeningApplication) -> accounts.HolderNumbers | None:
    """Apply to 中国结算 for the applicant's 一码通 and SH/SZ securities accounts. Whatever the
    adapter raises (a refusal, a timeout, a bug) sends the application to the review queue with
    why, instead of failing the applicant's request; None then."""
    customer = customers.get_customer(session, app.customer_id)
    request = csdc.HolderRequest(app.application_no, customer.name,
                                 get_cipher(session).decrypt(customer.id_number_enc), rules().branch_code)
    try:
        got = csdc.shareholder_registry().apply(request)
    except Exception as exc:  # the adapter is the broker's code on the far side of a network
        log.warning("CSDC application for %s failed: %r", app.application_no, exc)
        why = str(exc) if isinstance(exc, csdc.Refused) else "中国结算账户系统暂时无法办理，请稍后重新审批"
        reason = Review("csdc_failed", f"中国结算证券账户申请未成功：{why}")
        app.review_reasons = [*(r for r in app.review_reasons or [] if r["code"] != "csdc_failed"),
                              reason.__dict__]
        app.state = "in_review"
        session.flush()
        return None
    return accounts.HolderNumbers(got.one_code, got.sh, got.sz)


def issue_account(session: Session, app: OpeningApplication) -> OpeningApplication:
    """Apply for the shareholder accounts (中国结算), issue the account number with them (accounts),
    make the applicant a customer (customers) with a login (security: username = the phone, the
    password chosen at the start). When 中国结算 does not issue them, nothing is opened and the
    application waits in the review queue (state ``in_review``)."""
    cfg = rules()
    holder = _shareholder_accounts(session, app)
    if holder is None:
        return app
    card = get_cipher(session).decrypt(app.card_enc)
    account = accounts.open_cash_account(session, customer_id=app.customer_id, branch_code=cfg.branch_code,
                                         card_no=card, commission_rate=Decimal(str(cfg.commission_rate)),
                                         application_no=app.application_no, holder=holder)
    app.one_code_no, app.sh_holder_no, app.sz_holder_no = holder.one_code, holder.sh, holder.sz
    customers.set_status(session, app.customer_id, "active", opened_on=account.opened_on)
    customer = customers.get_customer(session, app.customer_id)
    create_user(session, username=get_cipher(session).decrypt(app.phone_enc), password="", password_hash=app.password_hash, role="customer",
                display_name=customer.name, customer_id=app.customer_id, branch_code=cfg.branch_code)
    app.account_no, app.opened_at, app.state = account.account_no, utcnow(), "opened"
    session.flush()
    _publish(session, app, "opened", app.opened_at)
    return app

