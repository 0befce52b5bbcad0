"""The administrator's workbench page: logins and their roles, privileged grants waiting for a
second admin, the data keys, and the day's jobs with their last runs. Administrators run the
system; nothing here shows customer data."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from brokercare.core import calendar, runs, scheduler
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_engine, get_session
from brokercare.core.errors import DomainError
from brokercare.core.schedule import day_allowed, load_schedule
from brokercare.core.settings import get_settings
from brokercare.ledger.service import append
from brokercare.security.policy import ROLE_LABELS, Principal
from brokercare.security.service import (
    decide_grant,
    key_status,
    list_users,
    role_grants,
    rotate_keys,
)
from brokercare.web.errors import domain_error_response
from brokercare.web.sessions import staff_user

router = APIRouter(prefix="/workbench", include_in_schema=False)

JOB_LABELS = {
    "engagement.greetings": "生日、开户纪念日和节日问候",
    "core.calendar_coverage": "交易日历到期提醒",
    "monitoring.ipo_lottery_results": "新股中签结果登记",
    "monitoring.ipo_reminders": "新股申购、中签与缴款提醒",
    "accounts.fund_orders_confirm": "基金申赎 T+1 确认",
    "accounts.settle_fund_redemptions": "基金赎回款到账（在途资金入账）",
    "service.sla_check": "服务时限预警与超时升级",
    "service.route_stranded": "补分配未路由的客户消息",
    "service.close_idle_conversations": "关闭客户已离开的智能会话",
    "accounts.transfers_follow_up": "银证转账补发与结果查询",
    "engagement.limit_down_tasks": "持仓跌停的客户经理紧急任务",
    "market.close_day": "收盘：分钟线汇总为日线",
    "monitoring.ipo_market_values": "新股申购市值计算",
    "monitoring.ipo_settlement": "新股中签缴款结算",
    "monitoring.margin_calls_settle": "两融追保结案（已补足或被后续追保取代）",
    "customers.profile_refresh": "客户画像刷新",
    "accounts.reconcile_bank_statements": "银行对账",
    "accounts.reconcile_fund_confirmations": "基金公司确认对账",
    "advisory.goal_review": "理财目标复盘",
    "advisory.rebalance_proposals": "调仓建议生成",
    "engagement.daily_reports": "客户收盘日报",
    "engagement.raise_leads": "客户经理销售线索",
    "core.prune_job_history": "清理过期的任务记录",
    "assistant.weekly_retrain": "智能助手每周学习坐席纠正（意图模型重训）",
    "service.feedback_report": "客户意见季度报告",
    "quality.monthly_report": "服务质量月报",
    "quality.book_snapshot": "客户经理名下资产月末快照",
    "quality.churn_rescore": "客户流失风险评分",
    "engagement.tier_services": "分层服务：VIP 专属团队与季度回访",
    "engagement.watch_goals": "理财目标与组合偏离跟踪",
    "engagement.valuation_warnings": "估值高位提醒",
    "engagement.monthly_commentary": "大众客户月度投后点评",
}
PHASE_LABELS = {"pre_open": "盘前", "intraday": "盘中", "post_close": "盘后", "weekly": "每周", "monthly": "每月"}
RUN_LABELS = {"running": "运行中", "succeeded": "成功", "failed": "失败", "skipped": "跳过"}
GRANT_LABELS = {"pending": "待第二位管理员审批", "approved": "已批准", "rejected": "已驳回"}
KEY_LABELS = {"active": "使用中", "retired": "已停用", "missing": "缺失（密文无法解密）"}
_WHEN = (("first trading day of the month", "每月首个交易日"), ("last trading day of the month", "每月最后一个交易日"),
         ("first trading day of the week", "每周首个交易日"),
         ("trading days", "交易日"), ("every day", "每天"))


def when_zh(when: str) -> str:
    """The schedule's own wording of when a job runs, in Chinese ("trading days every 1 min
    08:30–16:30" → "交易日 每 1 分钟 08:30–16:30")."""
    for en, zh in _WHEN:
        when = when.replace(en, zh)
    when = re.sub(r"every (\d+) min", r"每 \1 分钟", when)
    return re.sub(r"in months ([\d,]+)", lambda m: "（" + "、".join(m.group(1).split(",")) + " 月）", when)


def _admin(user: Principal) -> None:
    if user.role != "admin":
        raise HTTPException(status_code=403, detail="系统管理页仅限系统管理员。")


def _calendar_warning(cov: calendar.Coverage) -> str | None:
    if cov.covered_until is None:
        return "尚未加载交易日历：请用 brokercare market load-calendar 加载交易所休市安排。"
    if cov.warning is None:
        return None
    return (f"交易日历只加载到 {cov.covered_until:%Y-%m-%d}（还剩 {cov.days_left} 天）：请用 "
            f"brokercare market load-calendar 加载 {cov.covered_until.year + 1} 年的休市安排。")


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, user: Principal = Depends(staff_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    _admin(user)
    return _page(request, user, session)


def _page(request: Request, user: Principal, session: Session, *, notice: str | None = None,
          key_error: str | None = None, job_error: str | None = None, chosen_job: str | None = None) -> HTMLResponse:
    from brokercare.web.workbench import render

    staff = [u for u in list_users(session) if u.role != "customer"]
    jobs = scheduler.schedule_overview()
    cov = calendar.coverage()
    return render(request, "workbench/admin.html", user, status_code=422 if key_error or job_error else 200,
                  staff=staff, ROLE_LABELS=ROLE_LABELS,
                  pending=role_grants(session, status="pending"), GRANT_LABELS=GRANT_LABELS,
                  keys=key_status(session), KEY_LABELS=KEY_LABELS, jobs=jobs, JOB_LABELS=JOB_LABELS,
                  PHASE_LABELS=PHASE_LABELS, RUN_LABELS=RUN_LABELS, when_zh=when_zh,
                  calendar_warning=_calendar_warning(cov), covered_until=cov.covered_until,
                  notice=notice, key_error=key_error, job_error=job_error, chosen_job=chosen_job)


@router.post("/admin/keys/rotate", response_class=HTMLResponse)
def rotate_data_keys(request: Request, confirm: str = Form(""), user: Principal = Depends(staff_user),
                     session: Session = Depends(get_session)) -> HTMLResponse:
    """轮换数据密钥, as ``brokercare keys rotate``: a new key, every encrypted value re-sealed under
    it. Confirmed on the page and put on the ledger with the admin who asked (the rotation itself
    records the new key)."""
    _admin(user)
    if confirm != "yes":
        return _page(request, user, session, key_error="请先勾选“我确认轮换数据密钥”，再点击轮换。")
    append(session, "admin.keys_rotation", "data_keys", {"by_user_id": user.id})
    session.commit()
    try:
        report = rotate_keys(get_engine())
    except Exception as exc:  # noqa: BLE001 — the admin reads why on the page; the log has the trace
        logging.getLogger(__name__).exception("key rotation from the admin page failed")
        return _page(request, user, session, key_error=f"密钥轮换未完成（{type(exc).__name__}），已写入日志；"
                     "已重新加密的数据仍可正常读取，可稍后再次轮换。")
    session.expire_all()
    return _page(request, user, session, notice=f"已轮换到新密钥 {report.new_key_id}，重新加密 {report.total:,} 项数据。"
                 "旧密钥仍可解密，确认无数据使用后可停用。")


def _job_refusal(job: str, day: date, force: bool) -> str | None:
    """Why a job may not run now, in Chinese (the scheduler's own checks, said to a person)."""
    if job not in scheduler.registered_jobs():
        return "没有这个定时任务，请从列表中选择。"
    entry = load_schedule(get_settings().schedule_file).entry(job)
    if entry is not None and not force and not day_allowed(entry.trigger.days, day):
        reason = calendar.holidays().get(day) or ("周末" if day.weekday() >= 5 else "非执行日")
        return (f"今天（{day:%m月%d日}，{reason}）不是“{JOB_LABELS.get(job, job)}”的执行日。"
                "如确需执行，请勾选“非执行日也执行”。")
    if not force and runs.running(get_engine(), job) is not None:
        return f"“{JOB_LABELS.get(job, job)}”正在运行，请等它结束后再执行。"
    return None


@router.post("/admin/jobs/run", response_class=HTMLResponse)
def run_job(request: Request, job: str = Form(""), confirm: str = Form(""), force: str = Form(""),
            user: Principal = Depends(staff_user), session: Session = Depends(get_session)) -> HTMLResponse:
    """立即执行 a job for today, as ``brokercare jobs run``: recorded like a scheduled run and put
    on the ledger with the admin who asked."""
    _admin(user)
    day = datetime.now(SHANGHAI).date()
    refusal = ("请先勾选“我确认立即执行”。" if confirm != "yes" else _job_refusal(job, day, force == "yes"))
    if refusal:
        return _page(request, user, session, job_error=refusal, chosen_job=job)
    append(session, "admin.job_run", f"job:{job}", {"by_user_id": user.id, "day": day.isoformat(),
                                                     "force": force == "yes"})
    session.commit()
    label = JOB_LABELS.get(job, job)
    try:
        outcome = scheduler.run_now(job, day, force=True)  # the checks above, said in Chinese
    except DomainError:
        return _page(request, user, session, job_error=f"“{label}”未能开始执行，请刷新页面后重试。", chosen_job=job)
    if outcome.status != "succeeded":
        return _page(request, user, session, chosen_job=job,
                     job_error=f"“{label}”执行失败（用时 {outcome.seconds:.1f} 秒），原因已记入运行记录。")
    return _page(request, user, session, chosen_job=job,
                 notice=f"“{label}”已执行成功，用时 {outcome.seconds:.1f} 秒。")


@router.post("/admin/grants/{grant_id}/{decision}")
def grant_decision(request: Request, grant_id: int, decision: str, user: Principal = Depends(staff_user),
                 session: Session = Depends(get_session)) -> Response:
    """A second admin approves or rejects a privileged grant (neither the requester nor its login)."""
    _admin(user)
    if decision not in ("approve", "reject"):
        raise HTTPException(status_code=404, detail="没有这个操作。")
    try:
        decide_grant(session, grant_id, by_user_id=user.id, approve=decision == "approve")
    except DomainError as exc:
        session.rollback()
        return domain_error_response(request, exc)
    session.commit()
    return RedirectResponse("/workbench/admin#grants", status_code=303)
