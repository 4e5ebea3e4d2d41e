"""The one shape of a transform's refusal: the status it is answered with, and a line."""

from __future__ import annotations


class TransformError(Exception):
    """A refusal a client sees as `status` with `message` (one line, safe to send back)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
