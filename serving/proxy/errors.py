"""Errors in OpenAI's shape, so every client SDK shows the writer a readable message."""

from __future__ import annotations

from http import HTTPStatus

import orjson
from starlette.responses import Response

from serving.foundation.errors import InkwellError

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "upstream_unavailable",
    504: "upstream_timeout",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return f"http_{status}"


class ProxyError(InkwellError):
    """A failure the client should see as an OpenAI error with this status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def error_payload(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict:
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
            "param": param,
            "code": code or _phrase(status),
        }
    }


def error_response(exc: ProxyError) -> Response:
    return Response(
        orjson.dumps(error_payload(exc.status, exc.message, exc.param, exc.code)),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers,
    )


def sse_error_event(status: int, message: str) -> bytes:
    """The event a stream ends with when the engine fails mid-way, followed by [DONE]."""
    return b"data: " + orjson.dumps(error_payload(status, message)) + b"\n\ndata: [DONE]\n\n"


def validation_problems(errors: list) -> str:
    """pydantic/FastAPI validation errors as one line: `messages.0.role: Field required; ...`."""
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or 'body'}: {err['msg']}" for err in errors
    )
