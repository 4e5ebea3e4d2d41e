"""What a request must look like before the edge does anything with it."""

from __future__ import annotations

MAX_PATH = 8192
MAX_QUERY = 8192


class BadRequest(Exception):
    """A client's mistake: answered with its 4xx status and one line saying what."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def plainly_fine(path: str) -> bool:
    """A quick yes for the common path; a no only means check_path must look closer."""
    return path.startswith("/") and "/." not in path and "\\" not in path and path.isprintable() \
        and len(path) <= MAX_PATH


def check_path(path: str) -> None:
    """The server hands us the path percent-decoded, so `/..%2f` arrives as `/../`."""
    if len(path) > MAX_PATH:
        raise BadRequest(414, f"path longer than {MAX_PATH} bytes")
    if not path.startswith("/"):
        raise BadRequest(400, "the path must begin with '/'")
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        raise BadRequest(400, "control characters in the path")
    if "\\" in path:
        raise BadRequest(400, "backslashes in the path")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise BadRequest(400, "'.' and '..' segments are not allowed in the path")


def check_request(scope) -> None:  # noqa: ANN001 - the server's scope
    check_path(scope.path)
    if len(scope.query_string) > MAX_QUERY:
        raise BadRequest(414, f"query string longer than {MAX_QUERY} bytes")
