"""Errors: a call the server could not judge.

A rejected check is not an error (it is a :class:`~interlock_client.CheckResult`
with ``verdict`` REJECTED); an :class:`InterlockError` means the server gave no
verdict: bad input, a missing permission, a full table, a server that is not
serving.
"""

from __future__ import annotations

import re
from typing import Optional

import grpc

# The server names a bad field first: "quantity: must be positive",
# "updates.liability.venue: ...".
_FIELD = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*): ")


class InterlockError(Exception):
    """The server answered with a gRPC error instead of a result.

    ``code`` is the :class:`grpc.StatusCode`; ``field`` the request field the
    server named for INVALID_ARGUMENT (``None`` otherwise); ``retry_after_ms``
    is set when a rate limit refused the call.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        field: Optional[str] = None,
        retry_after_ms: Optional[int] = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.field = field
        self.retry_after_ms = retry_after_ms

    @classmethod
    def from_rpc(cls, e: grpc.RpcError) -> "InterlockError":
        code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
        message = (e.details() if hasattr(e, "details") else None) or ""
        field = None
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            m = _FIELD.match(message)
            if m:
                field = m.group(1)
        retry = None
        trailers = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
        for key, value in trailers or ():
            if key == "retry-after-ms":
                try:
                    retry = int(value)
                except ValueError:
                    pass
        return cls(code, message, field, retry)
