"""Online account opening as the applicant and the back office go through it, on SQLite and
PostgreSQL: every step, resuming, the refusals an applicant must fix, what goes to review, the
agreements in the ledger, and the account issued with its login and ``account.opened``."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from tests.onboarding.applicants import (
    ANSWERS,
    PASSWORD,
    VENDOR,
    Applicant,
    card,
    form,
    through_bank,
    wang,
)

from brokercare.accounts.service import accounts_of
from brokercare.advisory import service as advisory
from brokercare.core.bus import Event, get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.core.errors import AuthenticationFailed, Conflict, ValidationFailed
from brokercare.customers.models import Customer
from brokercare.customers.service import search_customers
from brokercare.ledger import service as ledger
from brokercare.onboarding import handlers as onboarding_handlers
from brokercare.onboarding import service as opening
from brokercare.onboarding.models import OpeningApplication, SignedAgreement
from brokercare.quality import journeys as quality_journeys
from brokercare.quality.models import JourneyStepRecord
from brokercare.security.service import authenticate, create_user


def test_a_clean_applicant_gets_an_account_a_login_and_the_event(session):
    seen = []
    get_bus().subscribe("account.opened", seen.append, group="test")
    a = wang()
    app = through_bank(session, a)
    opening.submit(session, app)
    session.commit()

    assert app.state == "opened" and app.account_no.startswith("10")
    account = accounts_of(session, app.customer_id)[0]
    assert (account.account_no, account.kind, account.bank_name) == (app.account_no, "cash", "工商银行")
    customer = session.get(Customer, app.customer_id)
    assert (customer.status, customer.name, customer.gender, customer.birth_date) == ("active", "王晓明", "M", date(1992, 3, 15))
    assert (customer.province, customer.city, app.risk_level) == ("广东", "广州", "C3")
    assert advisory.current_assessment(session, app.customer_id).level == "C3"  # advisory owns it
    user = authenticate(session, a.phone, PASSWORD)  # the password chosen at the start
    assert user.customer_id == app.customer_id
    assert [e.payload["account_no"] for e in seen] == [app.account_no]
    assert opening.standing(app).customer_seconds is not None


def test_the_agreements_are_signed_into_the_ledger_with_text_hash_time_and_signer(session):
    app = through_bank(session, wang())
    rows = session.scalars(select(SignedAgreement).where(SignedAgreement.application_id == app.id)
                           .order_by(SignedAgreement.id)).all()
    texts = opening.agreement_texts()
    assert [r.code for r in rows] == [t.code for t in texts]
    for row, text in zip(rows, texts, strict=True):
        entry = ledger.get_entry(session, row.ledger_index)
        assert entry.kind == "agreement.signed" and entry.subject == f"customer:{app.customer_id}"
        data = json.loads(entry.body)["data"]
        assert data["text"] == text.text and data["sha256"] == row.sha256 == text.sha256
        assert data["signer_customer_id"] == app.customer_id and data["signed_at"]
    assert ledger.verify(session).ok


def test_a_text_changed_since_it_was_shown_is_not_signed(session):
    a = wang()
    app = opening.start(session, phone=a.phone, password=PASSWORD).application
    opening.verify_identity(session, app, form(a), vendor=VENDOR)
    opening.assess_risk(session, app, ANSWERS)
    session.commit()
    shown = {t.code: t.sha256 for t in opening.agreement_texts()}
    shown["custody"] = "0" * 64
    with pytest.raises(Conflict, match="内容已更新"):
        opening.sign_agreements(session, app, shown)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(SignedAgreement)) == 0


def test_the_applicant_resumes_where_they_stopped(session):
    a = wang()
    app = opening.start(session, phone=a.phone, password=PASSWORD).application
    opening.verify_identity(session, app, form(a), vendor=VENDOR)
    session.commit()
    with pytest.raises(AuthenticationFailed):
        opening.resume(session, phone=a.phone, password="wrong-password")
    back = opening.resume(session, phone=a.phone, password=PASSWORD)
    session.commit()
    assert back.application.id == app.id and opening.standing(back.application).next_step == "risk"
    assert opening.by_token(session, back.token).id == app.id
    with pytest.raises(Conflict, match="风险测评"):  # a step out of turn says where to continue
        opening.bind_bank(session, back.application, bank="工商银行", card_no=a.card_no)
    with pytest.raises(Conflict, match="继续开户"):  # the same phone cannot start twice
        opening.start(session, phone=a.phone, password=PASSWORD)


def test_resuming_locks_after_five_wrong_passwords(session):
    a = wang()
    opening.start(session, phone=a.phone, password=PASSWORD)
    session.commit()
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            opening.resume(session, phone=a.phone, password="Wrong-2026!")
        session.commit()
    with pytest.raises(AuthenticationFailed, match="错误次数过多"):
        opening.resume(session, phone=a.phone, password=PASSWORD)


@pytest.mark.parametrize(("name", "mangle", "message"), [
    ("王晓明", lambda n: n[:17], "身份证号码校验未通过"),  # a character short
    ("王晓明", lambda n: n[:17] + ("0" if n[17] != "0" else "1"), "身份证号码校验未通过"),  # MOD 11-2
    ("王晓明", lambda n: n[:6] + "19920230" + n[14:], "身份证号码校验未通过"),  # 30 February
    ("Wang Xiaoming", lambda n: n, "中文姓名"),
])
def test_bad_identity_input_is_refused_and_writes_nothing(session, name, mangle, message):
    a = wang()
    app = opening.start(session, phone=a.phone, password=PASSWORD).application
    session.commit()
    f = opening.IdentityForm(name, mangle(a.id_number), a.address, a.occupation, a.id_card(), a.selfie())
    with pytest.raises(ValidationFailed, match=message):
        opening.verify_identity(session, app, f, vendor=VENDOR)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Customer)) == 0
    assert session.get(OpeningApplication, app.id).state == "started"


def test_a_seventeen_year_old_cannot_open_online(session):
    today = utcnow().astimezone(SHANGHAI).date()
    a = Applicant("李思琪", "13800138111", today.replace(year=today.year - 18) + timedelta(days=1), sequence="246")
    app = opening.start(session, phone=a.phone, password=PASSWORD).application
    with pytest.raises(ValidationFailed, match="未满18周岁"):
        opening.verify_identity(session, app, form(a), vendor=VENDOR)


def test_what_the_checks_cannot_clear_waits_for_the_back_office(session):
    """A selfie of another face, a 76-year-old, an unknown BIN: the application waits for review,
    the reviewer approves, and only then is the account issued."""
    a = Applicant("陈桂兰", "13711112222", date(1950, 8, 2), region="310104", sequence="248",
                  address="上海市徐汇区漕溪北路88号", occupation="退休", selfie_face="someone-else",
                  card_no=card("623456", 19))
    app = through_bank(session, a, {**ANSWERS, "age": "F"})
    opening.submit(session, app)
    session.commit()
    assert app.state == "in_review" and app.account_no is None
    assert accounts_of(session, app.customer_id) == []
    queue = opening.review_queue(session)
    assert [q.application_no for q in queue] == [app.application_no]
    assert {r["code"] for r in queue[0].reasons} == {"age", "face_mismatch", "bin_unknown"}
    assert queue[0].masked_name == "陈**"
    assert search_customers(session, "陈桂兰") == ([], 0)  # an applicant is the back office's, not a customer yet

    staff = create_user(session, username="compliance07", password="Hegui-2026!", role="compliance",
                        display_name="合规李")
    opened = opening.approve(session, app.application_no, reviewer_id=staff.id, note="已电话回访，本人确认")
    session.commit()
    assert opened.state == "opened" and accounts_of(session, app.customer_id)[0].account_no == opened.account_no
    assert [c.id for c in search_customers(session, "陈桂兰")[0]] == [app.customer_id]
    decision = ledger.get_entry(session, ledger.size(session) - 1)
    assert decision.kind == "opening.reviewed" and json.loads(decision.body)["data"]["decision"] == "approved"
    with pytest.raises(Conflict):
        opening.approve(session, app.application_no, reviewer_id=staff.id)


def test_a_rejected_applicant_reads_why_and_may_apply_again(session):
    a = wang()
    a.ocr_name = "王小明"  # the card reads another name
    app = through_bank(session, a)
    opening.submit(session, app)
    session.commit()
    assert [r["code"] for r in app.review_reasons] == ["ocr_name_mismatch"]
    opening.reject(session, app.application_no, reviewer_id=1, reason="证件照片与填写姓名不一致，请重新上传清晰的身份证照片。")
    session.commit()
    again = opening.resume(session, phone=a.phone, password=PASSWORD).application
    assert opening.standing(again).review_note.startswith("证件照片与填写姓名不一致")
    a.ocr_name = None
    retry = opening.start(session, phone=a.phone, password=PASSWORD).application
    opening.verify_identity(session, retry, form(a), vendor=VENDOR)
    session.commit()
    assert retry.customer_id == app.customer_id  # the same person, the same customer row


@pytest.mark.parametrize(("bank", "number", "message"), [
    ("工商银行", card("622202", 19)[:-1] + "0" if card("622202", 19)[-1] != "0" else card("622202", 19)[:-1] + "1",
     "校验未通过"),
    ("平安银行", card("622155", 16), "信用卡"),
    ("建设银行", card("622202", 19), "中国工商银行"),
    ("花旗银行", card("622202", 19), "选择存管银行"),
])
def test_a_card_that_cannot_be_the_custody_card_is_refused(session, bank, number, message):
    a = wang()
    app = opening.start(session, phone=a.phone, password=PASSWORD).application
    opening.verify_identity(session, app, form(a), vendor=VENDOR)
    opening.assess_risk(session, app, ANSWERS)
    opening.sign_agreements(session, app, {t.code: t.sha256 for t in opening.agreement_texts()})
    session.commit()
    with pytest.raises(ValidationFailed, match=message):
        opening.bind_bank(session, app, bank=bank, card_no=number)
    session.rollback()
    assert session.get(OpeningApplication, app.id).state == "agreement_signed"


def test_every_step_reaches_the_funnel_and_abandoned_ones_show(session):
    quality_journeys.subscribe(get_bus())
    done = through_bank(session, wang())
    opening.submit(session, done)
    session.commit()
    gone = Applicant("赵丽", "13600001111", date(1988, 11, 5), region="110105", sequence="382",
                     address="北京市朝阳区建国路88号")
    stopped = opening.start(session, phone=gone.phone, password=PASSWORD).application
    opening.verify_identity(session, stopped, form(gone), vendor=VENDOR)
    session.commit()  # 赵丽 stops before the questionnaire

    def steps(app):
        return session.scalars(select(JourneyStepRecord.step).where(
            JourneyStepRecord.ref == f"opening:{app.application_no}").order_by(JourneyStepRecord.step_no)).all()

    assert steps(done) == ["started", "identity_verified", "risk_assessed", "agreement_signed", "bank_bound",
                           "submitted", "opened"]
    assert steps(stopped) == ["started", "identity_verified"]

    # The first money in completes the journey (accounts announces each confirmed transfer).
    onboarding_handlers.subscribe_handlers(get_bus())
    account = accounts_of(session, done.customer_id)[0]
    for n, direction in enumerate(("out", "in", "in")):
        get_bus().publish(Event("transfer.completed", {"transfer_no": f"BT2026120600000{n}", "account_id": account.id,
                                                       "direction": direction, "amount": "50000.00"},
                                customer_id=done.customer_id))
    assert steps(done)[-2:] == ["opened", "first_deposit"]
