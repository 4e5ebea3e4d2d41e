"""Errors that stop `fallthrough serve` or `purge` before they do anything."""


class ServeError(Exception):
    """The server cannot start as configured; the message is one line for the user."""
