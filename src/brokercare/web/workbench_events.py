"""The conversation page's event stream: the thread, the analysis of the customer's newest
message and the suggested reply, pushed when the customer writes again (no reload, no stale
suggestion beside a new question).

One stream per open page: each tick reads the messages after the last one sent (an indexed
read); the thread is re-rendered when one arrived, and every few ticks for delivery states; the
assistant runs only when a new message is the customer's. The stream is also the agent's
heartbeat, so an agent working on one conversation stays present.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from brokercare.core.database import session_factory
from brokercare.security.access import ReadLog, thread_readable
from brokercare.security.policy import Principal
from brokercare.service import service as hub
from brokercare.web.sessions import staff_user

router = APIRouter(prefix="/workbench", include_in_schema=False)

#: How often the stream looks for news (a customer's message appears within this).
TICK_SECONDS = 1.0
#: Every this many ticks the thread is re-rendered anyway (a reply's delivery state changes).
REFRESH_TICKS = 3


def _event(name: str, html: str) -> str:
    data = "\n".join(f"data: {line}" for line in (html.splitlines() or [""]))
    return f"event: {name}\n{data}\n\n"


def _news(request: Request, user: Principal, conversation_id: int, after: int, refresh: bool) -> tuple[list, int]:
    """The events of one tick and the id of the last message sent."""
    from brokercare.web.pages import templates
    from brokercare.web.workbench import EMOTION_LABELS, assist_of

    hub.heartbeat(user)
    with session_factory()() as session:
        conv = hub.get_conversation(session, conversation_id)
        reads = ReadLog(session, user, action=f"GET {request.url.path}")
        if not thread_readable(reads, conv.id, customer_id=conv.customer_id, status=conv.status, note=False):
            return [("thread", '<p class="muted">这个会话已由其他坐席接待，请刷新页面。</p>')], after
        new = hub.messages_of(session, conversation_id, after_id=after)
        if not new and not refresh:
            return [], after
        messages = hub.messages_of(session, conversation_id)
        events = [("thread", templates.get_template("_thread.html").render(
            request=request, messages=messages, viewer="agent", deliveries=hub.delivery_of(session, messages)))]
        if any(m.sender == "customer" for m in new):
            suggestion, analysis, about = assist_of(session, reads, conv, messages)
            ctx = {"request": request, "suggestion": suggestion, "analysis": analysis, "about": about,
                   "EMOTION_LABELS": EMOTION_LABELS}
            events.append(("assist", templates.get_template("workbench/_assist.html").render(ctx)))
            events.append(("suggestion", templates.get_template("workbench/_suggestion.html").render(ctx)))
        session.commit()
        return events, (new[-1].id if new else after)


@router.get("/conversations/{conversation_id}/events")
async def conversation_events(request: Request, conversation_id: int, after: int = 0,
                              user: Principal = Depends(staff_user)) -> StreamingResponse:
    """Server-sent events of the conversation page: ``thread``, ``assist`` and ``suggestion``."""

    async def stream() -> AsyncIterator[str]:
        last, tick = after, 0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            tick += 1
            events, last = await run_in_threadpool(_news, request, user, conversation_id, last,
                                                   tick % REFRESH_TICKS == 0)
            for name, html in events:
                yield _event(name, html)
            if not events:
                yield ": keep-alive\n\n"
            await asyncio.sleep(TICK_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
