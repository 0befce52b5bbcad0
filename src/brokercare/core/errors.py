"""Errors shared by all domains.

Domain errors subclass :class:`DomainError`; the API turns them into RFC 9457 problem responses.
``detail`` is what a customer or operator reads, so customer-facing errors carry Chinese text.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    title = "Bad request"
    type_ = "about:blank"

    def __init__(self, detail: str, *, extra: dict | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class NotFound(DomainError):
    status_code = 404
    title = "Not found"


class ValidationFailed(DomainError):
    status_code = 422
    title = "Validation failed"


class Conflict(DomainError):
    status_code = 409
    title = "Conflict"


class PermissionDenied(DomainError):
    status_code = 403
    title = "Forbidden"


class AuthenticationFailed(DomainError):
    status_code = 401
    title = "Unauthorized"
