"""``ApiError``: an error already in the API's terms, a status, a code and a message.

Routes raise it for what the caller got wrong in the request itself (a missing field, a bad
value); everything else they let the hub or the store raise, and :mod:`tokenwire.server.error_map`
turns it into the same terms, in one table.
"""

from __future__ import annotations

from tokenwire.errors import TokenwireError


class ApiError(TokenwireError):
    """An error answered as it is: ``status``, ``code``, ``message``, extra ``headers``, and the
    request parameter at fault (``param``, given as OpenAI's ``error.param`` under ``/v1``)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.param = param
