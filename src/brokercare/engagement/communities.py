"""Themed communities (seed 2.3.3): 新手训练营, 基金定投, 养老规划 … (``data/communities.yaml``),
each hosted by a member of staff, joined by interest, with posts and replies moderated.

Every post and reply passes the assistant's compliance guard — the same
:func:`brokercare.assistant.service.check_outgoing` the monthly commentary passes — plus one rule
of the communities' own: no luring members to private chats or outside groups, the first step of
the 荐股群 fraud. A post the guard stops is ``held``: its author sees it with the reason in
Chinese, nobody else sees it until the host (or compliance) publishes or rejects it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.assistant.service import check_outgoing
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.engagement.models import CommunityMember, CommunityPost
from brokercare.security.service import get_user_by_username, mask_name


class Community(BaseModel):
    key: str = Field(pattern=r"^[a-z_]{2,32}$")
    name: str
    description: str
    host: str  # staff login
    interests: list[str] = []
    tiers: list[str] = []
    topics: list[str] = []
    welcome: str


class Communities(BaseModel):
    communities: list[Community] = Field(min_length=1)
    max_length: int = Field(ge=50, le=5000)

    def get(self, key: str) -> Community:
        for c in self.communities:
            if c.key == key:
                return c
        raise NotFound("没有找到这个社区。")


@lru_cache(maxsize=1)
def config() -> Communities:
    text = resources.files("brokercare.engagement").joinpath("data/communities.yaml").read_text("utf-8")
    return Communities.model_validate(yaml.safe_load(text))


#: Why the guard's rules hold a post, in the words its author and the host read.
HOLD_REASONS = {
    "promise": "帖子中有承诺收益或保本的说法（如“稳赚”“必涨”“翻倍”）",
    "advice": "帖子中有具体证券的买卖建议或“内部消息”（荐股）",
    "privacy": "帖子中有手机号、身份证号、银行卡号或账号等个人信息",
    "suitability": "帖子中推荐了超出一般投资者风险承受能力的产品",
    "lure": "帖子引导大家加私人联系方式或进站外群（谨防荐股群诈骗）",
}
LURE = re.compile(r"加(?:我|一下)?(?:微信|VX|V信|vx|QQ|qq|好友)|(?:微信|VX|vx|QQ|qq)(?:号|群)|进群|拉(?:你|大家)?进群|"
                  r"私聊|私信我|带单|跟单|群号|扫码进|内部群|VIP群", re.I)


@dataclass(frozen=True)
class Verdict:
    held: bool
    reason: str | None
    violations: list[dict]


def moderate(text: str, risk_level: str | None) -> Verdict:
    """The guard's verdict on a post: held with the reasons, or published as written (the risk
    wording the guard adds to the broker's own messages is not added to a member's words)."""
    verdict = check_outgoing(text, risk_level=risk_level)
    found = [v.as_dict() for v in verdict.violations if verdict.action == "block"]
    for m in LURE.finditer(text):
        found.append({"rule": "lure", "text": m.group(0), "message": HOLD_REASONS["lure"]})
    if not found:
        return Verdict(False, None, [])
    rules = list(dict.fromkeys(v["rule"] for v in found))
    return Verdict(True, "；".join(HOLD_REASONS.get(r, "帖子内容不符合社区规范") for r in rules) + "，需主持人审核后才能发布。", found)


# --- membership -------------------------------------------------------------------------------

def memberships(session: Session, customer_id: int) -> set[str]:
    return set(session.scalars(select(CommunityMember.community).where(CommunityMember.customer_id == customer_id)))


def member_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(CommunityMember.community, func.count())
                                .group_by(CommunityMember.community)).all())


def join(session: Session, customer_id: int, key: str) -> bool:
    """Join a community; False when already a member (flushed)."""
    config().get(key)
    if key in memberships(session, customer_id):
        return False
    session.add(CommunityMember(community=key, customer_id=customer_id))
    session.flush()
    return True


def leave(session: Session, customer_id: int, key: str) -> bool:
    config().get(key)
    row = session.scalar(select(CommunityMember).where(CommunityMember.community == key,
                                                       CommunityMember.customer_id == customer_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def suggested(tags: set[str], tier: str | None) -> list[tuple[Community, list[str]]]:
    """Communities with the profile tags that match each (the best matches first); every
    community is listed, since membership is open to all."""
    rows = [(c, [t for t in c.interests if t in tags]) for c in config().communities
            if not c.tiers or tier in c.tiers]
    return sorted(rows, key=lambda r: -len(r[1]))


# --- posts ------------------------------------------------------------------------------------

def _check_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("请输入帖子内容。")
    if len(body) > config().max_length:
        raise ValidationFailed(f"帖子太长了，请控制在{config().max_length}字以内。")
    return body


def _parent(session: Session, key: str, parent_id: int | None) -> CommunityPost | None:
    if parent_id is None:
        return None
    parent = session.get(CommunityPost, parent_id)
    if parent is None or parent.community != key or parent.state != "published" or parent.parent_id is not None:
        raise NotFound("要回复的帖子不存在或尚未发布。")
    return parent


def post_as_customer(session: Session, *, customer_id: int, name: str, risk_level: str | None, key: str,
                     body: str, parent_id: int | None = None) -> CommunityPost:
    """A member's post or reply, published or held by the guard (flushed; the caller commits)."""
    config().get(key)
    body = _check_body(body)
    if key not in memberships(session, customer_id):
        raise PermissionDenied("请先加入社区再发帖。")
    parent = _parent(session, key, parent_id)
    verdict = moderate(body, risk_level)
    row = CommunityPost(community=key, parent_id=parent.id if parent else None, customer_id=customer_id,
                        author=mask_name(name), body=body, state="held" if verdict.held else "published",
                        held_reason=verdict.reason, violations=verdict.violations or None)
    session.add(row)
    session.flush()
    return row


def is_host(session: Session, key: str, user) -> bool:
    host = get_user_by_username(session, config().get(key).host)
    return host is not None and host.id == user.id


def _may_moderate(session: Session, key: str, user) -> None:
    if user.role != "compliance" and not is_host(session, key, user):
        raise PermissionDenied("只有社区主持人或合规人员可以审核帖子。")


def post_as_host(session: Session, *, user, key: str, body: str, parent_id: int | None = None) -> CommunityPost:
    """The host's post or reply: the guard applies to staff as well (held like anyone's)."""
    if not is_host(session, key, user):
        raise PermissionDenied("只有本社区的主持人可以以主持人身份发帖。")
    body = _check_body(body)
    parent = _parent(session, key, parent_id)
    verdict = moderate(body, None)
    row = CommunityPost(community=key, parent_id=parent.id if parent else None, user_id=user.id,
                        author=f"{user.display_name}（主持人）", body=body,
                        state="held" if verdict.held else "published", held_reason=verdict.reason,
                        violations=verdict.violations or None)
    session.add(row)
    session.flush()
    return row


def review(session: Session, *, user, post_id: int, action: str, note: str | None = None) -> CommunityPost:
    """The host or compliance publishes a held post (the guard was too strict) or rejects it."""
    row = session.get(CommunityPost, post_id)
    if row is None:
        raise NotFound(f"post {post_id} does not exist")
    _may_moderate(session, row.community, user)
    if row.state != "held":
        raise Conflict("这条帖子不在待审核状态。")
    if action not in ("publish", "reject"):
        raise ValidationFailed("action must be publish or reject")
    if action == "reject" and not (note or "").strip():
        raise ValidationFailed("不予发布时请写明原因，作者会看到。")
    row.state = "published" if action == "publish" else "rejected"
    row.moderated_by, row.moderated_at, row.moderation_note = user.id, utcnow(), (note or "").strip() or None
    session.flush()
    return row


@dataclass(frozen=True)
class Thread:
    post: CommunityPost
    replies: list[CommunityPost]


def threads(session: Session, key: str, *, viewer_customer_id: int | None = None, limit: int = 50) -> list[Thread]:
    """The community's posts, newest first, each with its replies oldest first: published ones,
    plus the viewer's own held or rejected ones (with their reason)."""
    config().get(key)
    visible = CommunityPost.state == "published"
    if viewer_customer_id is not None:
        visible = visible | (CommunityPost.customer_id == viewer_customer_id)
    tops = list(session.scalars(select(CommunityPost).where(CommunityPost.community == key,
                                                            CommunityPost.parent_id.is_(None), visible)
                                .order_by(CommunityPost.created_at.desc(), CommunityPost.id.desc()).limit(limit)))
    ids = [p.id for p in tops]
    replies: dict[int, list[CommunityPost]] = {}
    if ids:
        for r in session.scalars(select(CommunityPost).where(CommunityPost.parent_id.in_(ids), visible)
                                 .order_by(CommunityPost.created_at, CommunityPost.id)):
            replies.setdefault(r.parent_id, []).append(r)
    return [Thread(p, replies.get(p.id, [])) for p in tops]


def held_posts(session: Session, user) -> list[CommunityPost]:
    """The posts waiting for this member of staff: the held posts of the communities they host
    (every community's for compliance), oldest first."""
    if user.role == "compliance":
        keys = [c.key for c in config().communities]
    else:
        keys = [c.key for c in config().communities if is_host(session, c.key, user)]
    if not keys:
        return []
    return list(session.scalars(select(CommunityPost).where(CommunityPost.community.in_(keys),
                                                            CommunityPost.state == "held")
                                .order_by(CommunityPost.created_at, CommunityPost.id)))


def hosts(session: Session) -> dict[str, str]:
    """community key → the host's display name (or 主持人待定 when the login does not exist)."""
    out = {}
    for c in config().communities:
        user = get_user_by_username(session, c.host)
        out[c.key] = user.display_name if user is not None and user.active else "主持人待定"
    return out


def hosted_by(session: Session, user) -> list[Community]:
    return [c for c in config().communities if is_host(session, c.key, user)]

