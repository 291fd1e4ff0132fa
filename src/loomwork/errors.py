"""The error hierarchy: each error carries its HTTP status and a stable code.

One handler in app.py renders them as `{"detail", "code", ...}`; services raise,
routers never build error responses by hand.
"""

from __future__ import annotations

from typing import Any


class LoomworkError(Exception):
    status = 400
    code = "bad_request"
    # What the status means for any operation: the OpenAPI document's description of it (see ERROR_STATUSES).
    meaning = "The request is malformed."

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.field = field
        self.extra = extra

    def headers(self) -> dict[str, str]:
        """Response headers the error answers with (a 429's Retry-After)."""
        return {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "code": self.code}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


class Unauthenticated(LoomworkError):
    status = 401
    code = "unauthenticated"
    meaning = "No API key, or one that is not valid."


class Forbidden(LoomworkError):
    status = 403
    code = "forbidden"
    meaning = "The caller's role is too low, or an AI agent tried to decide."


class NotFound(LoomworkError):
    status = 404
    code = "not_found"
    meaning = "An id that does not exist in the caller's group."


class Conflict(LoomworkError):
    status = 409
    code = "conflict"
    meaning = "A version check or another state check failed; `code` says which."


class BodyTooLarge(LoomworkError):
    status = 413
    code = "body_too_large"
    meaning = "The body is larger than the limit."


class QuotaExceeded(LoomworkError):
    status = 429
    code = "quota_exceeded"
    meaning = "The caller holds as many uploads as its quota allows; wait for some to expire."


class Invalid(LoomworkError):
    """422: the input names a field and says what is wrong with it."""

    status = 422
    code = "invalid"
    meaning = "A field is invalid; `field` names it and `detail` says why."


class TooManyProposals(LoomworkError):
    status = 429
    code = "too_many_proposals"
    meaning = "Too many proposals wait for a decision; wait until people decide some."


# The errors any operation can answer with, by status: every route's OpenAPI `responses` derive from these.
ERROR_STATUSES: tuple[type[LoomworkError], ...] = (
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    BodyTooLarge,
    Invalid,
    TooManyProposals,
)


def version_conflict(what: str, current: int | None, expected: int | None) -> Conflict:
    """409 `version_conflict`, carrying the version the client should reload."""
    return Conflict(
        f"The {what} is at version {current}, not {expected}; reload it and apply your change again.",
        code="version_conflict",
        current_version=current,
    )
