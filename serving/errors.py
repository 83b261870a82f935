"""The service's own 4xx error: a sentence plus the request fields at fault."""

from __future__ import annotations


class RequestFieldError(Exception):
    """A request the service refuses, naming each field at fault (default 422).

    ``errors`` holds ``{"field": "body.tables.deals.1.registered_at", "message":
    ...}`` entries; field paths index rows from 0, as JSON paths do.
    """

    def __init__(
        self, message: str, errors: list[dict[str, str]], status: int = 422
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.status = status

    def __reduce__(self) -> tuple[type[RequestFieldError], tuple[object, ...]]:
        """Pickle with every field (the error may come from a scoring process)."""
        return (type(self), (self.message, self.errors, self.status))

    @classmethod
    def about(cls, field: str, message: str, status: int = 422) -> RequestFieldError:
        """An error about one field."""
        return cls(
            f"{field}: {message}", [{"field": field, "message": message}], status
        )
