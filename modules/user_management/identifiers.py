"""The one normalization of usernames and emails: what makes two of them the same account.

``Alice``, ``ALICE`` and ``alice`` in fullwidth letters (U+FF41…) look like
``alice`` to a person, so they must not be two accounts, and a transfer to any
of them must reach the one ``alice``. Each name is stored as typed (its display
form) beside its key: NFKC, case folded, NFKC again (Unicode's NFKC_Casefold,
near enough), so compatibility forms (fullwidth letters, the script small l
U+2113, ligatures) and case collapse into one. An email's domain also loses a
trailing dot (``example.com.`` is the same host). Registration, login,
transfers and ``hookline admin`` all look a user up by these keys, through
these two functions only.
"""

from __future__ import annotations

import unicodedata


def compatible(value: object) -> object:
    """A string in its NFKC form (fullwidth ``alice`` becomes ``alice``); anything else as
    it is, for the validator to refuse."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


def folded(text: str) -> str:
    """``text`` with compatibility forms and case collapsed (NFKC, casefold, NFKC)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def username_key(username: str) -> str:
    """The key a username is unique under and found by."""
    return folded(username.strip())


def email_key(email: str) -> str:
    """The key an email is unique under and found by; the domain without a trailing dot."""
    local, at, domain = folded(email.strip()).rpartition("@")
    return f"{local}{at}{domain.rstrip('.')}"
