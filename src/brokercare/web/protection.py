"""What guards the pages against the browser-borne attacks: CSRF tokens, security headers,
``Secure`` cookies behind TLS, and errors shown to people as Chinese pages.

* **CSRF**: asgi-csrf (double submit: a signed ``csrftoken`` cookie that every state-changing form
  posts back as a hidden field, and htmx sends as ``X-CSRFToken``, see ``static/js/app.js``). A
  form posted from another origin, even another port of the same host (same site, so SameSite=Lax
  lets the session cookie through), cannot read the cookie and is refused with a Chinese 403 page.
  The JSON API under ``/api/`` is exempt: it authenticates by the ``Authorization`` header only,
  which a browser never attaches on its own.
* **Headers**: a small ASGI middleware of our own, because two of them depend on the request (HSTS
  only over TLS; ``Secure`` added to every cookie set over TLS) and the Content-Security-Policy
  must leave FastAPI's interactive docs, which load their own inline script, out.
* **Proxies**: uvicorn's ProxyHeadersMiddleware takes the scheme and client address from
  ``X-Forwarded-Proto``/``-For`` only when the peer is one of ``BROKERCARE_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from html import escape
from urllib.parse import parse_qsl, unquote

from asgi_csrf import asgi_csrf
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from brokercare.core import keys
from brokercare.core.settings import get_settings
from brokercare.security.service import redact_typed_pii

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"
_DOCS = ("/docs", "/redoc")
_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]


class SecurityHeaders:
    """Adds the security headers to every response; over TLS also HSTS and ``Secure`` cookies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"
        path = scope.get("path", "")
        docs = path.startswith(_DOCS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers") or []:
                    if tls and name.lower() == b"set-cookie" and b"secure" not in value.lower():
                        value = value + b"; Secure"
                    headers.append((name, value))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _ALWAYS if n not in present]
                if not docs and b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CSP.encode()))
                if tls:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                if not path.startswith("/static/") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))  # pages carry personal data
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: Pages whose forms upload files. asgi-csrf 0.11 cannot parse a multipart body with the
#: python-multipart in use, so these check the same double-submit token themselves
#: (:func:`double_submit_ok`): the form's ``csrftoken`` field must equal the SameSite=Strict cookie.
MULTIPART_FORMS = frozenset({"/open/identity"})


def _exempt(scope: Scope) -> bool:
    path = scope.get("path", "")
    return path.startswith("/api/") or path == "/health" or path in MULTIPART_FORMS


def double_submit_ok(cookie: str | None, field: str | None) -> bool:
    """The double-submit check of a form that asgi-csrf does not read (see MULTIPART_FORMS)."""
    return bool(cookie) and bool(field) and hmac.compare_digest(cookie.encode(), field.encode())


async def _refused(scope: Scope, send: Send, _why: object) -> None:
    """The answer to a form whose CSRF token is missing or wrong: a page, in Chinese."""
    from brokercare.web.errors import page_html

    htmx = any(k == b"hx-request" for k, _ in scope.get("headers") or [])
    text = "页面已过期或请求来源不可信，请刷新页面后重试。"
    body = (f'<p class="error" role="alert">{escape(text)}</p>' if htmx
            else page_html("请求被拒绝", text, 403))
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/html; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body.encode("utf-8")})


def csrf_middleware(app: ASGIApp) -> ASGIApp:
    secret = keys.secret("csrf", lambda: secrets.token_urlsafe(48).encode()).decode("utf-8").strip()
    pages = asgi_csrf(app, signing_secret=secret, skip_if_scope=_exempt, cookie_samesite="Strict",
                      send_csrf_failed=_refused)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        # asgi-csrf signs a fresh token for every request before it looks at skip_if_scope (a
        # fifth of the event loop's time under the service hub's load); the API never needs one.
        if scope["type"] != "http" or _exempt(scope):
            await app(scope, receive, send)
        else:
            await pages(scope, receive, send)

    return guarded


def proxy_headers(app: ASGIApp) -> ASGIApp:
    trusted = [h.strip() for h in get_settings().trusted_proxies.split(",") if h.strip()]
    return ProxyHeadersMiddleware(app, trusted_hosts=trusted or "127.0.0.1")


class AccessLogPrivacy(logging.Filter):
    """The access log keeps no searched identifiers: query strings lose their values (a search is
    ledgered instead), and personal numbers in a path are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if query:
                query = "&".join(f"{k}=***" for k, _ in parse_qsl(query, keep_blank_values=True))
            path = redact_typed_pii(unquote(path)).text
            record.args = (*args[:2], f"{path}?{query}" if query else path, *args[3:])
        return True


def install(app) -> None:  # a FastAPI app
    """Outermost first: the proxy's scheme, then the headers (which read it), then CSRF."""
    app.add_middleware(csrf_middleware)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(proxy_headers)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogPrivacy) for f in access.filters):
        access.addFilter(AccessLogPrivacy())
