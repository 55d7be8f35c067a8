"""Map what went wrong in an LLM call to the contract's error_type.

Two entry points share one table: `classify_http(status, body)` for wire responses (the proxy,
any HTTP client) and `classify_exception(exc)` for Python exceptions (the OpenAI client's
exceptions carry the status and the parsed error body, so they go through the same table).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

RATE_LIMIT = "rate_limit"
TIMEOUT = "timeout"
SERVER_ERROR = "server_error"
CONTENT_FILTER = "content_filter"
CONTEXT_LENGTH = "context_length_exceeded"
AUTHENTICATION = "authentication"
INVALID_REQUEST = "invalid_request"
INSUFFICIENT_QUOTA = "insufficient_quota"
OTHER = "other"

_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context length", "too many tokens",
                    "string_above_max_length")
_QUOTA_MARKER = "insufficient_quota"  # OpenAI's error code and type for an exhausted quota or spend limit
_FILTER_MARKERS = ("content_filter", "content_policy_violation", "content policy", "responsibleaipolicyviolation")


def _error_text(body: Any) -> str:
    """code, type and message of an OpenAI-style error body, lowercased, for marker matching."""
    if isinstance(body, (bytes, bytearray)):
        if len(body) > 65536:
            body = body[:65536]
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return bytes(body).decode("utf-8", "replace").lower()
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            parts = [error.get(key) for key in ("code", "type", "message", "param")]
            return " ".join(str(part) for part in parts if part).lower()
        return str(error).lower()
    return "" if body is None else str(body).lower()


def classify_http(status: int, body: Any = None) -> str | None:
    """error_type for an HTTP status and error body; None for a success (2xx/3xx)."""
    if status < 400:
        return None
    if status == 429:  # out of credit is not a rate limit: waiting does not help
        return INSUFFICIENT_QUOTA if _QUOTA_MARKER in _error_text(body) else RATE_LIMIT
    if status in (401, 403):
        return AUTHENTICATION
    if status in (408, 504):
        return TIMEOUT
    if status >= 500:
        return SERVER_ERROR
    text = _error_text(body)
    if any(marker in text for marker in _CONTEXT_MARKERS):
        return CONTEXT_LENGTH
    if any(marker in text for marker in _FILTER_MARKERS):
        return CONTENT_FILTER
    if status in (400, 404, 409, 413, 415, 422):
        return INVALID_REQUEST
    return OTHER


def classify_exception(exc: BaseException) -> str:
    """error_type for an exception raised by an LLM call (OpenAI SDK, httpx, asyncio, builtins)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return classify_http(status, getattr(exc, "body", None) or str(exc)) or OTHER
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and body and "APIError" in names:  # an error event inside a stream
        return classify_error_body(body)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or names & {"APITimeoutError", "TimeoutException"}:
        return TIMEOUT
    if names & {"RateLimitError"}:
        return INSUFFICIENT_QUOTA if _QUOTA_MARKER in _error_text(body) else RATE_LIMIT
    if names & {"AuthenticationError", "PermissionDeniedError"}:
        return AUTHENTICATION
    if names & {"ContentFilterFinishReasonError"}:
        return CONTENT_FILTER
    if names & {"LengthFinishReasonError"}:
        return CONTEXT_LENGTH
    if names & {"InternalServerError"}:
        return SERVER_ERROR
    if names & {"BadRequestError", "UnprocessableEntityError", "NotFoundError"}:
        return INVALID_REQUEST
    return OTHER


def classify_error_body(body: Any, default: str = SERVER_ERROR) -> str:
    """error_type for an error reported inside a 200 response, e.g. an `{"error": ...}` event in
    the middle of a stream (no HTTP status to go by)."""
    text = _error_text(body)
    if any(marker in text for marker in _CONTEXT_MARKERS):
        return CONTEXT_LENGTH
    if any(marker in text for marker in _FILTER_MARKERS):
        return CONTENT_FILTER
    for marker, error_type in ((_QUOTA_MARKER, INSUFFICIENT_QUOTA),
                               ("rate_limit", RATE_LIMIT), ("rate limit", RATE_LIMIT), ("timeout", TIMEOUT),
                               ("timed out", TIMEOUT), ("authentication", AUTHENTICATION),
                               ("invalid_request", INVALID_REQUEST)):
        if marker in text:
            return error_type
    return default
