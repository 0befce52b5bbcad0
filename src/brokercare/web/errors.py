"""Errors on pages are shown to people: a Chinese page (or, for an htmx request, a Chinese
fragment), every value escaped, never the API's problem+json."""

from __future__ import annotations

import re
from html import escape

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokercare.core.errors import DomainError

_CJK = re.compile(r"[\u4e00-\u9fff]")
_GENERIC = {
    400: "提交的内容有误，请检查后重试。",
    401: "请重新登录。",
    403: "您无权执行此操作。",
    404: "您要找的页面或记录不存在。",
    405: "不支持这种操作方式。",
    409: "操作与当前状态冲突，请刷新页面后重试。",
    422: "提交的内容有误，请检查后重试。",
    429: "操作过于频繁，请稍后再试。",
    503: "系统繁忙，请稍后重试。",
}
_TITLES = {401: "需要登录", 403: "无权访问", 404: "未找到", 409: "操作冲突", 422: "内容有误", 500: "系统错误"}


def chinese(detail: object, status: int) -> str:
    """The Chinese part of an error's detail (the text before its bracketed English reason), or a
    plain Chinese sentence for the status when the detail is for operators only."""
    text = str(detail or "")
    if _CJK.search(text):
        return re.sub(r"\s*\([^()]*\)\s*$", "", text).strip()
    return _GENERIC.get(status, "系统出错了，请稍后重试。如问题持续，请联系技术支持。")


def page_html(title: str, message: str, status: int) -> str:
    from brokercare.web.pages import templates

    return templates.get_template("error.html").render(title=title, message=message, status=status,
                                                      user=None, csrf_token=None)


def error_response(request: Request, status: int, detail: object) -> HTMLResponse:
    message = chinese(detail, status)
    if request.headers.get("HX-Request"):
        return HTMLResponse(f'<p class="error" role="alert">{escape(message)}</p>', status_code=status)
    return HTMLResponse(page_html(_TITLES.get(status, "出错了"), message, status), status_code=status)


def domain_error_response(request: Request, exc: DomainError) -> HTMLResponse:
    return error_response(request, exc.status_code, exc.detail)


def _for_people(request: Request) -> bool:
    """A browser's page or htmx request (the API and programs asking for JSON keep problem+json)."""
    path = request.url.path
    if path.startswith("/api/") or path == "/health" or path.startswith(("/docs", "/redoc", "/openapi")):
        return False
    return bool(request.headers.get("HX-Request")) or "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """Wrap the API's error handlers: page paths get HTML, API paths what they got before."""
    for exc_class in (DomainError, StarletteHTTPException, RequestValidationError):
        previous = app.exception_handlers.get(exc_class)

        def make(prev):
            async def handler(request: Request, exc: Exception) -> Response:
                if _for_people(request) or prev is None:
                    status = getattr(exc, "status_code", 422)
                    response = error_response(request, status, getattr(exc, "detail", ""))
                    if getattr(exc, "headers", None) and status != 401:
                        response.headers.update(exc.headers)
                    return response
                return await prev(request, exc)
            return handler

        app.add_exception_handler(exc_class, make(previous))
