"""Errors as RFC 9457 problem documents, and their place in the OpenAPI description.

Every error the API answers with is a problem document (``application/problem+json``). The
OpenAPI lists, per operation, the error statuses it can answer with, so a client generated from
it knows every answer it may get: FastAPI only declares 422 for operations with parameters, and
nothing for the statuses the platform's own errors carry. :func:`declare_errors` adds them from
what the operation's description already says:

- an operation behind a sign-in (its ``security``) can answer 401 (no valid token) and 403 (a
  role or relationship that may not do this);
- one that names a record (a path parameter, or an ``..._id`` field in its body) can answer 404;
- one that takes input (parameters or a body) can answer 422.

Anything else an operation can answer (409 on a state change, 429 when rate limited, 503 when
busy) is declared where the route is written, with ``responses=``.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

PROBLEM = "application/problem+json"

#: The problem document's schema, referenced by every declared error.
PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `detail` is the text for the person who made the request.",
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string", "description": "the status's short name"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong (Chinese for customers)"},
        "instance": {"type": "string", "description": "the request's path"},
    },
    "required": ["title", "status", "detail"],
}

_ERRORS = {
    "401": "Not signed in, or the token expired or was revoked",
    "403": "Signed in, but this role or relationship may not do this",
    "404": "A record the request names does not exist",
    "422": "The request's input is not valid",
}


def problem(status: int, title: str, detail: str, instance: str, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def declare_errors(spec: dict) -> dict:
    """Add to each operation of an OpenAPI description ``spec`` the error statuses it can answer
    with (see the module's docstring); statuses an operation already declares are kept as written."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", PROBLEM_SCHEMA)
    for operations in spec.get("paths", {}).values():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            for status in _statuses(method, op, schemas):
                responses.setdefault(status, {
                    "description": _ERRORS[status],
                    "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                })
    return spec


def _statuses(method: str, op: dict, schemas: dict) -> list[str]:
    params = op.get("parameters") or []
    out = []
    if op.get("security"):
        out += ["401", "403"]
    if any(p.get("in") == "path" for p in params) or _body_names_a_record(op, schemas):
        out.append("404")
    if params or "requestBody" in op or method.lower() not in ("get", "head"):
        out.append("422")
    return out


def _body_names_a_record(op: dict, schemas: dict) -> bool:
    content = (op.get("requestBody") or {}).get("content") or {}
    for media in content.values():
        schema = media.get("schema") or {}
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            schema = schemas.get(ref.rsplit("/", 1)[1], {})
        if any(name.endswith("_id") for name in (schema.get("properties") or {})):
            return True
    return False


def errors(descriptions: dict[int, str]) -> dict[int, dict]:
    """A route's own error statuses for its ``responses=``, each a problem document."""
    return {status: {"description": text,
                     "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for status, text in descriptions.items()}
