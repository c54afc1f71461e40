"""Errors in OpenAI's shape, so every client SDK shows the writer a readable message."""

from __future__ import annotations

from http import HTTPStatus

import orjson
from starlette.responses import Response

from serving.foundation.errors import InkwellError

# The `type` values OpenAI's API itself sends (its SDKs pick the exception class from the
# status; clients that read `type` expect these): every client error is an
# invalid_request_error (401 too, with code invalid_api_key), rate limits are "requests",
# and any failure on the server side is a server_error. The specifics go in `code`.
RATE_LIMIT_TYPE = "requests"
CLIENT_ERROR_TYPE = "invalid_request_error"
SERVER_ERROR_TYPE = "server_error"


def error_type(status: int) -> str:
    if status == 429:
        return RATE_LIMIT_TYPE
    return SERVER_ERROR_TYPE if status >= 500 else CLIENT_ERROR_TYPE


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
            "type": error_type(status),
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
