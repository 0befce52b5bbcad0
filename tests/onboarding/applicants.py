"""Applicants as a person would fill the forms in: identity numbers built on GB 11643 (region,
birth date, sequence, MOD 11-2 check character), debit cards of real BINs completed with their
Luhn digit, and the local fake vendor's pictures of the card and the selfie."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from brokercare.core.identifiers import id_check_char, luhn_check_digit
from brokercare.onboarding import service as opening
from brokercare.onboarding.id_verification import LocalFakeVendor, sample_picture
from brokercare.onboarding.models import OpeningApplication

PASSWORD = "Kaihu-2026!"
#: A balanced C3 applicant aged 31-45: answers the questionnaire takes without clarification.
ANSWERS = {"age": "B", "income": "C", "assets": "B", "share": "D", "stability": "C", "experience": "B",
           "products": "B", "knowledge": "B", "horizon": "C", "goal": "C", "max_loss": "C", "reaction": "C",
           "allocation": "C"}


def id_number(region: str, born: date, sequence: str) -> str:
    body = f"{region}{born:%Y%m%d}{sequence}"
    return body + id_check_char(body)


def card(bin_: str, length: int, middle: str = "0123456789012345") -> str:
    body = (bin_ + middle)[: length - 1]
    return body + luhn_check_digit(body)


@dataclass
class Applicant:
    name: str
    phone: str
    born: date
    region: str = "440106"  # 广州市天河区
    sequence: str = "123"  # odd: a man
    address: str = "广东省广州市天河区体育西路191号中石化大厦B座1201"
    occupation: str = "企业职员"
    bank: str = "工商银行"
    card_no: str = field(default_factory=lambda: card("622202", 19))
    face: str = "face-1"
    selfie_face: str | None = None  # None: the same face as on the card
    live: bool = True
    ocr_name: str | None = None  # None: the card reads what was typed
    readable: bool = True

    @property
    def id_number(self) -> str:
        return id_number(self.region, self.born, self.sequence)

    def id_card(self) -> bytes:
        if not self.readable:
            return sample_picture(face=self.face)
        return sample_picture(name=self.ocr_name or self.name, id_number=self.id_number, face=self.face,
                              valid_until="2038-06-30")

    def selfie(self) -> bytes:
        return sample_picture(face=self.selfie_face or self.face, live="yes" if self.live else "no")


def wang() -> Applicant:
    """王晓明, 34, an office worker in Guangzhou with an ICBC debit card."""
    return Applicant("王晓明", "13926051234", date(1992, 3, 15))


VENDOR = LocalFakeVendor()


def form(a: Applicant) -> opening.IdentityForm:
    return opening.IdentityForm(a.name, a.id_number, a.address, a.occupation, a.id_card(), a.selfie())


def through_bank(session, a: Applicant, answers: dict | None = None) -> OpeningApplication:
    """Every step of the applicant up to the custody card, each committed as the pages do."""
    app = opening.start(session, phone=a.phone, password=PASSWORD).application
    session.commit()
    opening.verify_identity(session, app, form(a), vendor=VENDOR)
    session.commit()
    assert opening.assess_risk(session, app, answers or ANSWERS).status == "complete"
    session.commit()
    opening.sign_agreements(session, app, {t.code: t.sha256 for t in opening.agreement_texts()})
    session.commit()
    opening.bind_bank(session, app, bank=a.bank, card_no=a.card_no)
    session.commit()
    return app


def open_account(session, a: Applicant | None = None) -> OpeningApplication:
    """A clean applicant all the way to the account number."""
    app = through_bank(session, a or wang())
    opening.submit(session, app)
    session.commit()
    return app
