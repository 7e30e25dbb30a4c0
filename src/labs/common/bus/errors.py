"""The errors the message bus raises (all are :class:`BusError`)."""

from __future__ import annotations


class BusError(Exception):
    """Base class of every error raised by the bus."""


class BusTimeout(BusError):
    """No reply to an RPC call arrived within its timeout."""


class BusUnavailable(BusError):
    """The transport could not be reached (after retrying) so nothing was sent."""


class NoSuchMethod(BusError):
    """Raised on the server when a request names a method the endpoint lacks.

    The caller sees it as a :class:`RemoteError` whose ``exc_type`` is
    ``"NoSuchMethod"``.
    """


class RemoteError(BusError):
    """The remote method raised; carries the remote exception's class name and message."""

    def __init__(
        self,
        exc_type: str,
        message: str,
        *,
        topic: str = "",
        method: str = "",
        remote_traceback: str | None = None,
    ) -> None:
        self.exc_type = exc_type
        self.remote_message = message
        self.topic = topic
        self.method = method
        self.remote_traceback = remote_traceback
        where = f" (in {topic}.{method})" if topic or method else ""
        super().__init__(f"{exc_type}: {message}{where}")


__all__ = ["BusError", "BusTimeout", "BusUnavailable", "NoSuchMethod", "RemoteError"]
