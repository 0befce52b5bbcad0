"""Each channel's real wire format maps onto one conversation model."""

import base64
import json
from pathlib import Path

import pytest

from brokercare.core.errors import ValidationFailed
from brokercare.service.channels import (
    parse_call_transcript,
    parse_email,
    parse_wechat,
    wechat_reply_xml,
    wechat_signature_ok,
)

from .conftest import dkim_signed

DATA = Path(__file__).parent / "data"


def test_wechat_text_push():
    m = parse_wechat((DATA / "wechat_text.xml").read_bytes())
    assert m.channel == "wechat" and m.external_id == "wx:24680135792468013"
    assert m.identities[0].kind == "wechat_openid" and m.identities[0].value == "oMASS_zhangwei_77ab"
    assert m.customer_text == "昨天下午转了5万到证券账户，到现在还没到账，怎么回事？"
    assert m.sent_at.isoformat() == "2025-09-15T02:00:00+00:00"


def test_wechat_voice_uses_the_speech_recognition_text_and_menu_clicks_are_ignored():
    m = parse_wechat((DATA / "wechat_voice.xml").read_bytes())
    assert m.customer_text == "你好，我想问一下开户需要带什么材料？"
    click = ("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>"
             "<CreateTime>1757901700</CreateTime><MsgType><![CDATA[event]]></MsgType>"
             "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[MENU_1]]></EventKey></xml>")
    assert parse_wechat(click) is None


@pytest.mark.parametrize("xml", ["<xml><FromUserName>o1</FromUserName>", "<xml><ToUserName>g</ToUserName></xml>"])
def test_broken_wechat_pushes_are_refused_clearly(xml):
    with pytest.raises(ValidationFailed):
        parse_wechat(xml)


def test_wechat_signature_and_passive_reply():
    import hashlib

    sig = hashlib.sha1("".join(sorted(["tok", "1757901600", "n0nce"])).encode()).hexdigest()
    assert wechat_signature_ok("tok", sig, "1757901600", "n0nce")
    assert not wechat_signature_ok("tok", sig, "1757901601", "n0nce")
    from datetime import UTC, datetime

    xml = wechat_reply_xml({"official_account": "gh_7f"}, "o1", "您好]]>", datetime.now(UTC))
    from xml.etree import ElementTree

    assert ElementTree.fromstring(xml).find("Content").text == "您好]]>"


def test_email_with_encoded_word_subject_multipart_and_quoted_reply():
    m = parse_email(dkim_signed((DATA / "email_margin.eml").read_bytes()))
    assert m.subject == "关于两融担保比例的疑问"
    assert m.display_name == "苏晓梅"
    assert m.identities[0].value == "su.xiaomei@example.cn" and m.identities[0].verified
    assert "维持担保比例今天显示152%" in m.customer_text
    assert "尊敬的客户" not in m.customer_text  # the quoted earlier mail is stripped
    assert m.external_id == "mail:<20260915103107.5f2a@mail.example.cn>"


def test_email_gb2312_subject_without_dkim_is_not_trusted():
    subject = "=?GB2312?B?" + base64.b64encode("投诉：营业部服务态度差".encode("gb2312")).decode() + "?="
    raw = (f"From: someone@mail.example.cn\r\nSubject: {subject}\r\nMessage-ID: <a1@x>\r\n"
           "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.b64encode("柜台办业务等了两个小时没人理。".encode("gb2312")).decode() + "\r\n").encode()
    m = parse_email(raw)
    assert m.subject == "投诉：营业部服务态度差"
    assert "等了两个小时" in m.customer_text
    assert not m.identities[0].verified


def test_call_transcript():
    m = parse_call_transcript(json.loads((DATA / "call_transcript.json").read_text("utf-8")))
    assert m.channel == "phone" and m.external_id == "call:CC20260915-0001873"
    assert [p.speaker for p in m.parts] == ["agent", "customer", "agent", "customer", "agent"]
    assert "T加三到账" in m.customer_text and "工号1023" not in m.customer_text
    assert m.meta["disposition"] == "unresolved" and m.meta["duration_s"] == 396
    assert m.identities[0].kind == "phone" and m.identities[0].verified


def test_call_transcript_validation_names_the_problem():
    data = json.loads((DATA / "call_transcript.json").read_text("utf-8"))
    data["ended_at"] = "2026-09-15T09:00:00+08:00"
    with pytest.raises(Exception, match="ends before it starts"):
        parse_call_transcript(data)


def test_email_with_an_unknown_charset_is_read_not_refused():
    raw = (b"From: a@b.cn\r\nSubject: hi\r\nContent-Type: text/plain; charset=x-unknown-9\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n") + "开户要带身份证吗".encode("gb18030")
    assert "开户要带身份证吗" in parse_email(raw).customer_text


def test_a_non_ascii_wechat_signature_is_simply_wrong():
    assert not wechat_signature_ok("wx-token-2026", "签名", "1764900000", "nonce")
