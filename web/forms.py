"""What every server-rendered form shares (the portal's and the console's): reading a field, the CSRF check."""
from __future__ import annotations

import hmac

from twisted.web.iweb import IRequest
from werkzeug.exceptions import Forbidden

#: The hidden field every POSTed form carries.
CSRF_FIELD = "csrf"
CSRF_MESSAGE = ("This form has expired or did not come from this site: go back, reload the page and send it "
                "again.")


class CsrfError(Forbidden):
    """A POST without this session's CSRF token."""


def arg(request: IRequest, name: str, limit: int = 500) -> str:
    """A form or query field as text ('' when absent), at most ``limit`` characters."""
    values = request.args.get(name.encode(), [b""])
    return values[0].decode("utf-8", "replace")[:limit]


def check_csrf(request: IRequest, expected: str) -> None:
    """Raise :class:`CsrfError` (403) unless the POSTed form's ``csrf`` field is ``expected``."""
    given = request.args.get(CSRF_FIELD.encode(), [b""])[0]
    if not given or not expected or not hmac.compare_digest(given, expected.encode("utf-8")):
        raise CsrfError()
