"""Domain errors: plain exceptions with a stable upper-case code.

The web layer maps each class to an HTTP status and RFC 9457 problem details;
nothing here knows about HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the programme was broken. `code` is stable; `field` names the input at fault."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidInput(DomainError):
    """The request is well formed but its values cannot be accepted (HTTP 422)."""

    code = "INVALID_INPUT"


class Conflict(DomainError):
    """The request clashes with the current state of a resource (HTTP 409)."""

    code = "CONFLICT"


class Forbidden(DomainError):
    """The caller's role or lender may not do this (HTTP 403)."""

    code = "FORBIDDEN"


class NotFound(DomainError):
    """The resource does not exist, or is not visible to the caller (HTTP 404)."""

    code = "NOT_FOUND"
