"""The FastAPI application: mounts each domain's ``views.router`` under ``/api/v1``.

Errors leave as RFC 9457 ``application/problem+json``; a domain error's ``detail`` is the text the
caller should read (Chinese on customer-facing endpoints).
"""

from __future__ import annotations

import gc
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import fastapi_offline
from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokercare import __version__
from brokercare.core import calendar, events_intake, health, metrics, runs, scheduler
from brokercare.core.database import get_engine, get_session
from brokercare.core.domains import domain_modules, load_all_models
from brokercare.core.errors import DomainError
from brokercare.core.problems import declare_errors, problem
from brokercare.core.settings import get_settings
from brokercare.security.policy import Principal, require_roles


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run each domain's ``views.startup()`` (bus subscriptions, model warm-up, the embedded
    dispatcher) before serving, and its ``views.shutdown()`` after."""
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
    # The day's jobs, when this process runs them (BROKERCARE_SCHEDULER=embedded; docs/jobs.md).
    await anyio.to_thread.run_sync(scheduler.start_embedded)
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(scheduler.stop_embedded)
        for module in domain_modules("views"):
            shutdown = getattr(module, "shutdown", None)
            if shutdown is not None:
                await anyio.to_thread.run_sync(shutdown)


def _jobs_router() -> APIRouter:
    """The schedule and its runs, for admins (the workbench shows them)."""
    router = APIRouter(prefix="/jobs", tags=["jobs"])
    admin = require_roles("admin")

    @router.get("", summary="The schedule: each job, when it runs, its next due time, its last run")
    def jobs(_: Principal = Depends(admin)) -> dict:
        return {"jobs": scheduler.schedule_overview(), "calendar": calendar.coverage().as_dict()}

    @router.get("/runs", summary="The latest runs, newest first")
    def job_runs(job: str | None = None, status: str | None = None,
                 limit: int = Query(50, ge=1, le=1000), _: Principal = Depends(admin)) -> list[dict]:
        return runs.history(get_engine(), job=job, status=status, limit=limit)

    return router


def _events_router() -> APIRouter:
    """Events from the broker's trading system and app gateway, onto the platform's bus."""
    router = APIRouter(tags=["events"])
    feed = require_roles("event_feed")

    @router.post("/events", response_model=events_intake.Accepted,
                 summary="A batch of events (logins, credential changes, transfers, orders, trades, behaviour)",
                 responses={422: {"description": "a bad event refuses the whole batch, with its number"}})
    def post_events(events: list[dict] = Body(..., embed=True, description="events in the columns of docs/events.md"),
                    session: Session = Depends(get_session), _: Principal = Depends(feed)) -> events_intake.Accepted:
        accepted = events_intake.accept(session, events_intake.parse_batch(events))
        session.commit()
        return accepted

    return router


def _offline_docs(app: FastAPI) -> None:
    """/docs and /redoc with the Swagger UI and ReDoc files shipped in the fastapi-offline package."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static/api-docs", StaticFiles(directory=str(assets)), name="api-docs")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> Response:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="BrokerCare API",
                                   swagger_js_url="/static/api-docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/api-docs/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return get_redoc_html(openapi_url=app.openapi_url, title="BrokerCare API",
                              redoc_js_url="/static/api-docs/redoc.standalone.js",
                              redoc_favicon_url="/static/favicon.svg", with_google_fonts=False)


def create_app() -> FastAPI:
    load_all_models()  # every table in the metadata, or foreign keys to them cannot resolve
    from brokercare.assistant import service as assistant_service
    from brokercare.service import service as hub

    hub.wire_assistant(assistant_service, replace=False)  # the service hub answers with the assistant
    app = FastAPI(
        docs_url=None,  # served with local assets below (a broker's network reaches no CDN)
        redoc_url=None,
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

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # An integer in the path or query beyond what the database stores (SQLite: 64 bits).
        return problem(422, "Validation failed", "请求参数超出范围。(integer out of range)", request.url.path)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refusing a value (an integer or a string past its column) is bad input too.
        return problem(422, "Validation failed", "请求参数超出范围或格式不正确。(value out of range)",
                       request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
        response = problem(exc.status_code, title.get(exc.status_code, "Error"), str(exc.detail),
                           request.url.path)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.get("/health", tags=["ops"], summary="What is stale or failing (quotes, jobs, dispatcher)")
    def health_status() -> dict:
        body = health.status()
        return {"status": "ok" if body["ok"] else "warn", "version": __version__, **body}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics_exposition(request: Request) -> Response:
        token = get_settings().metrics_token
        if token and not hmac.compare_digest(request.headers.get("authorization", ""),
                                             f"Bearer {token}"):
            return problem(401, "Unauthorized", "metrics token required", request.url.path)
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    _offline_docs(app)
    app.include_router(_jobs_router(), prefix="/api/v1")
    app.include_router(_events_router(), prefix="/api/v1")

    for module in domain_modules("views"):
        app.include_router(module.router, prefix="/api/v1")
    for module in domain_modules("pages"):
        module.mount(app)
    _openapi_with_errors(app)
    return app


def _openapi_with_errors(app: FastAPI) -> None:
    """The OpenAPI description with each operation's error statuses declared (core/problems.py)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = declare_errors(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi
