"""The checks of an online opening, as pure functions over what the applicant typed and what the
vendor read: each finding either stops the step (the applicant must fix it: a bad checksum, under
18, a credit card) or sends the application to the back office (what a machine cannot clear: the
OCR or the face disagreeing, an age at the edge of the rules, a card whose bank the BIN table
cannot name). Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, Field

from brokercare.accounts.service import CARD_TYPES, CardCheck
from brokercare.core.identifiers import IdNumber, parse_id_number
from brokercare.onboarding.id_verification import CardReading, FaceMatch

#: GB/T 2260 province-level codes (the first two digits of an identity number) and their names.
PROVINCES = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
    "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
    "63": "青海", "64": "宁夏", "65": "新疆", "71": "台湾", "81": "香港", "82": "澳门", "83": "台湾",
}


class Agreement(BaseModel):
    code: str
    version: str
    title: str
    file: str


class StartLimits(BaseModel):
    """Applications one source IP address may start per hour and per day."""

    per_hour: int = Field(ge=1)
    per_day: int = Field(ge=1)


class OpeningRules(BaseModel):
    branch_code: str
    commission_rate: float = Field(gt=0, lt=0.01)
    min_age: int = Field(ge=16)
    review_from_age: int
    face: dict[str, float]
    resume: dict[str, int]
    start_limits: StartLimits
    occupations: list[str] = Field(min_length=1)
    custody_banks: list[str] = Field(min_length=1)
    agreements: list[Agreement] = Field(min_length=1)


@lru_cache(maxsize=1)
def rules() -> OpeningRules:
    text = resources.files("brokercare.onboarding").joinpath("data/opening.yaml").read_text("utf-8")
    return OpeningRules.model_validate(yaml.safe_load(text))


@dataclass(frozen=True)
class AgreementText:
    code: str
    version: str
    title: str
    text: str

    @property
    def sha256(self) -> str:
        """The hash of the exact UTF-8 bytes the applicant is shown and signs."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def agreement_texts() -> tuple[AgreementText, ...]:
    folder = resources.files("brokercare.onboarding").joinpath("data/agreements")
    return tuple(AgreementText(a.code, a.version, a.title, folder.joinpath(a.file).read_text("utf-8"))
                 for a in rules().agreements)


class Refused(ValueError):
    """The applicant must change what they entered (the message is theirs to read)."""


@dataclass(frozen=True)
class Review:
    """Why a person in the back office must look: ``code`` for staff filters, ``text`` to read."""

    code: str
    text: str


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_identity(*, name: str, id_number: str, today: date, reading: CardReading,
                   face: FaceMatch) -> tuple[IdNumber, list[Review]]:
    """The identity step: GB 11643 number and age (refused), the card's validity (refused), then
    the OCR and the face against what was typed (to review)."""
    cfg = rules()
    if not re.fullmatch(r"[\u4e00-\u9fa5·]{2,20}", name.strip()):
        raise Refused("请填写身份证上的中文姓名（2–20 个汉字）。")
    try:
        parsed = parse_id_number(id_number, on=today)
    except ValueError:
        raise Refused("身份证号码校验未通过，请核对后重新输入（18 位，最后一位可能是 X）。") from None
    age = age_on(parsed.birth_date, today)
    if age < cfg.min_age:
        raise Refused(f"按身份证信息您未满{cfg.min_age}周岁，暂不能在线开户，请满{cfg.min_age}周岁后再来。")
    if reading.readable and reading.valid_until is not None and reading.valid_until < today:
        raise Refused(f"您的身份证已于{reading.valid_until:%Y年%m月%d日}过期，请换领新证后再开户。")
    reviews = []
    if age >= cfg.review_from_age:
        reviews.append(Review("age", f"申请人{age}岁（{cfg.review_from_age}岁及以上），需人工确认适当性并回访。"))
    if not reading.readable:
        reviews.append(Review("ocr_unreadable", "身份证照片无法自动识别，请人工核对证件照片。"))
    else:
        if (reading.id_number or "").strip().upper() != parsed.number:
            reviews.append(Review("ocr_id_mismatch", "证件照片识别的号码与填写的号码不一致。"))
        if (reading.name or "").strip() != name.strip():
            reviews.append(Review("ocr_name_mismatch", "证件照片识别的姓名与填写的姓名不一致。"))
    if not face.live:
        reviews.append(Review("liveness", "活体检测未通过（可能是翻拍或视频）。"))
    if face.similarity is None:
        reviews.append(Review("face_missing", "未能在照片中找到可比对的人脸。"))
    elif face.similarity < cfg.face["min_similarity"]:
        reviews.append(Review("face_mismatch", f"人脸比对相似度 {face.similarity:.2f}，低于 {cfg.face['min_similarity']:.2f}。"))
    return parsed, reviews


def check_bank_card(*, bank: str, check: CardCheck) -> list[Review]:
    """The custody card: Luhn, a debit card of a custody bank, the bank chosen agreeing with the
    BIN (refused); a BIN the table does not know or names twice (to review)."""
    banks = rules().custody_banks
    if bank not in banks:
        raise Refused("请从列表中选择存管银行。")
    if not check.number.isdigit() or not 15 <= len(check.number) <= 19:
        raise Refused("银行卡号应为 15–19 位数字，请核对。")
    if not check.luhn_ok:
        raise Refused("银行卡号校验未通过，请核对卡号是否输错。")
    if not check.issuers:
        return [Review("bin_unknown", f"卡号前缀不在发卡行识别码表中，请人工确认是否为{bank}借记卡。")]
    if check.issuer is None:
        names = "、".join(i.short_name for i in check.issuers)
        if bank not in {i.short_name for i in check.issuers}:
            raise Refused(f"该卡号属于{names}，与您选择的{bank}不一致，请核对。")
        return [Review("bin_ambiguous", f"卡号前缀在识别码表中同时属于{names}，请人工确认发卡行。")]
    issuer = check.issuer
    if issuer.card_type != "DC":
        raise Refused(f"这是一张{CARD_TYPES.get(issuer.card_type, '非借记卡')}，第三方存管需要使用借记卡（储蓄卡）。")
    if issuer.short_name != bank:
        raise Refused(f"该卡号属于{issuer.bank_name}，与您选择的{bank}不一致，请核对。")
    return []


def city_of(address: str, province: str) -> str:
    """The city an address names (``…省广州市…`` → 广州), else the province (北京, 上海)."""
    m = re.match(r"^(?:.{2,8}?(?:省|自治区))?(.{2,8}?)市", address.strip())
    return m.group(1) if m else province
