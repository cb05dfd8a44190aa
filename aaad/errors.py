"""Domain errors every layer may raise and every front end maps once.

A service says *what* went wrong in domain terms; the CLI turns these into
exit codes, the API into JSON and the portal into HTML pages, each in one
place.  ``ValidationError`` names the field at fault; ``NotFound`` names
the kind of thing that was looked up and the key it was looked up by.
"""
from __future__ import annotations


class ValidationError(ValueError):
    """A bad value for a named field; ``field`` says which."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFound(LookupError):
    """No ``what`` with this ``key`` (in the caller's org)."""

    def __init__(self, what: str, key: object):
        self.what = what
        self.key = key
        self.message = f"no {what} {key!r}"
        super().__init__(self.message)
