"""The HTTP vocabulary every router shares: the request base model, the bounded integer, the size limits,
the error body and the error answers listed in each route's OpenAPI `responses`.

It sits below every router and depends on nothing of Loomwork but `errors`, so the audit, identity,
resource and event routers need not reach into the engine for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from loomwork.errors import ERROR_STATUSES

MAX_IDS = 1000
# Items of one bulk request (create, update, delete, import): each is a savepoint of its own.
MAX_BULK_ITEMS = 1000
MAX_KEY_CHARS = 255
# Each word of a search is one more LIKE over every row: 100 words cost 23 times one, and finding anything
# with more than a few is rare. 16 is past any real query.
MAX_SEARCH_WORDS = 16


def _few_words(value: str) -> str:
    words = len(value.split())
    if words > MAX_SEARCH_WORDS:
        raise PydanticCustomError(
            "too_many_words",
            "must have at most {limit} words, not {words}",
            {"limit": MAX_SEARCH_WORDS, "words": words},
        )
    return value


# Every search field of every request: bounded in characters and in words.
SearchText = Annotated[str, Field(max_length=MAX_KEY_CHARS), AfterValidator(_few_words)]

MAX_MESSAGE_CHARS = 10_000


def _unstorable_text(value: Any, path: str) -> str | None:
    """The path of the first string no database can store: a NUL character or a lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path} must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path} is not valid Unicode text (a lone surrogate)"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_text(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_text(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _json_integer(value: Any) -> Any:
    """JSON Schema's `integer`: 3 and 3.0 are one, but `true` and "3" are no number at all."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# The largest whole number a request may carry: the databases' INTEGER (versions are stored as one). A larger
# page_offset or expected_version reached SQL and failed there (SQLite's driver cannot bind past 2**63).
MAX_INT = 2**31 - 1


def Int(*, ge: int | None = None, le: int = MAX_INT) -> Any:  # noqa: N802 - reads as a type
    """A request's whole number with its bounds (given before the validator, so the OpenAPI document shows them).
    Booleans are StrictBool: `false` is no page size and 0 is no `active`, as the document says."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_json_integer)]


def says_agent(x_mcp_fields: Iterable[str]) -> bool:
    """Whether a request's X-MCP header fields make it an agent's: repeated fields are one list joined with
    ", " (RFC 9110, section 5.3), and any non-empty member counts. Taking only the first field let an empty
    one cancel a later `X-MCP: 1`."""
    return any(member.strip() for member in ", ".join(x_mcp_fields).split(","))


class RequestModel(BaseModel):
    # Unknown fields are refused by name, so a typo never silently does nothing.
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any) -> Any:
        problem = _unstorable_text(data, "")
        if problem:
            raise PydanticCustomError("unstorable_text", problem)
        return data


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """Every error's body (API.md section 6); a kind of error may add fields of its own."""

    detail: str = Field(description="A sentence a person can act on.")
    code: str = Field(description="A stable machine word: invalid, not_found, version_conflict, ...")
    field: str | None = Field(None, description="The field at fault, when one is.")
    errors: list[FieldError] | None = Field(None, description="422 from validation: every field at fault.")
    current_version: int | None = Field(None, description="409 version_conflict: the version to reload.")


# Every route's error answers, derived from the error classes (one body model, a description per status).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    error.status: {"model": ErrorBody, "description": error.meaning} for error in ERROR_STATUSES
}


# A label of an artifact version (API.md section 9): the revision routes, resolve and the generator setting.
LabelName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_-]{0,63}$",
        description=(
            "A label: a lowercase letter, then up to 63 of a-z, 0-9, _ and -. `latest` is the newest version."
        ),
    ),
]
