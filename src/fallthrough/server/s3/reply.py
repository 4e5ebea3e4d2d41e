"""The edge's responses, dressed as S3's.

An object read through the S3 API takes the edge's own path (cache, fills, Range,
conditionals), handed this wrapper in place of the server's protocol object: successes
go out as they are, with the response-* overrides of GetObject applied, and every error
status the edge answers (a 404 from the origin, a 412, a 416, a 502) becomes S3's XML
error with the matching code.
"""

from __future__ import annotations

import asyncio
import os

from .errors import CODE_OF_STATUS, S3Error, send_error

# GetObject's query parameters that replace a response header.
OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}
MESSAGES = {
    "NoSuchKey": "The specified key does not exist.",
    "PreconditionFailed": "At least one of the preconditions you specified did not hold.",
    "InvalidRange": "The requested range is not satisfiable.",
}


class _Sink:
    """A body nobody will see: the edge's error page, replaced by the XML error."""

    async def send_bytes(self, data: bytes) -> None:
        pass


def _drain(path: str) -> None:
    """Read a piped body to its end and drop it, so the writer is not left waiting."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            while os.read(fd, 1 << 16):
                pass
        except BlockingIOError:
            return
        loop.remove_reader(fd)
        os.close(fd)

    loop.add_reader(fd, readable)


class S3Reply:
    def __init__(self, proto, method: str, resource: str, overrides: dict[str, str]) -> None:  # noqa: ANN001
        self._proto = proto
        self._method = method
        self._resource = resource
        self._overrides = overrides

    def _headers(self, status: int, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if status not in (200, 206) or not self._overrides:
            return headers
        kept = [(k, v) for k, v in headers if k.lower() not in self._overrides]
        return kept + list(self._overrides.items())

    @staticmethod
    def _failed(status: int) -> bool:
        return status >= 300 and status != 304

    def _error(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        code = CODE_OF_STATUS.get(status, "InternalError" if status >= 500 else "InvalidRequest")
        plain = any(k.lower() == "content-type" and v.startswith("text/plain") for k, v in headers)
        message = MESSAGES.get(code) or (body.decode("utf-8", "replace").strip() if plain and body else "")
        send_error(self._proto, self._method, S3Error(code, message or f"the request failed ({status})", status),
                   self._resource)

    def note_upstream(self, seconds: float) -> None:
        """The time spent on the origin, passed on to the protocol beneath (for the access log)."""
        note = getattr(self._proto, "note_upstream", None)
        if note is not None:
            note(seconds)

    def note_source(self, source: str) -> None:
        """Where the body came from, passed on to the protocol beneath (for the metrics)."""
        note = getattr(self._proto, "note_source", None)
        if note is not None:
            note(source)

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self._failed(status):
            self._error(status, headers)
        else:
            self._proto.response_empty(status, self._headers(status, headers))

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self._failed(status):
            self._error(status, headers, body[:1024])
        else:
            self._proto.response_bytes(status, self._headers(status, headers), body)

    def response_stream(self, status: int, headers: list[tuple[str, str]]):  # noqa: ANN201 - the server's transport
        if self._failed(status):
            self._error(status, headers)
            return _Sink()
        return self._proto.response_stream(status, self._headers(status, headers))

    def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
        if self._failed(status):
            self._error(status, headers)
            _drain(path)
        else:
            self._proto.response_file(status, self._headers(status, headers), path)
