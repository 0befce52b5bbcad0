"""The FastAPI application: mounts each domain's ``views.router`` under ``/api/v1``.

Errors leave as RFC 9457 ``application/problem+json``; a domain error's ``detail`` is the text the
caller should read (Chinese on customer-facing endpoints).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokercare import __version__
from brokercare.core.domains import domain_modules, load_all_models
from brokercare.core.errors import DomainError

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, instance: str, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run each domain's ``views.startup()`` (bus subscriptions, model warm-up) before serving."""
    for module in domain_modules("views"):
        startup = getattr(module, "startup", None)
        if startup is not None:
            await anyio.to_thread.run_sync(startup)
    # The models, dictionaries and knowledge base just loaded live as long as the process. Left in
    # the collector's generations, every full collection walks them all (about 0.1 s measured with
    # the assistant loaded), stalling whatever requests are in flight; frozen, the collector skips
    # them and its pauses shrink to the short-lived objects of requests.
    gc.collect()
    gc.freeze()
    yield


def create_app() -> FastAPI:
    load_all_models()  # every table in the metadata, or foreign keys to them cannot resolve
    app = FastAPI(
        title="BrokerCare",
        version=__version__,
        description="Customer service, advisory, monitoring and data platform for a brokerage.",
        lifespan=_lifespan,
    )

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        response = problem(exc.status_code, exc.title, exc.detail, request.url.path, **exc.extra)
        if "retry_after_s" in exc.extra:  # a busy server tells clients when to come back (RFC 9110)
            response.headers["Retry-After"] = str(exc.extra["retry_after_s"])
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return problem(422, "Validation failed", f"请求参数有误：{where} {first['msg']}".strip(),
                       request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
        response = problem(exc.status_code, title.get(exc.status_code, "Error"), str(exc.detail),
                           request.url.path)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.get("/health", tags=["ops"])
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    for module in domain_modules("views"):
        app.include_router(module.router, prefix="/api/v1")
    for module in domain_modules("pages"):
        module.mount(app)
    return app
