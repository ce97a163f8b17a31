"""Numbers in request headers: ASCII digits only, as HTTP's grammars say (``1*DIGIT``).

``str.isdigit`` is no check for them: it is true of ``'²'`` and ``'٣'``, which
``int`` then refuses (``'²'``) or reads as a number no client meant (``'٣'``).
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")
# Longer than this is larger than any limit a header is compared with; it is never handed
# to ``int`` (which refuses more than 4300 digits). RFC 9111 §1.2.2 reads such a
# delta-seconds as 2147483648.
MAX_DIGITS = 10
TOO_LARGE = 2**31


def header_number(value: str) -> int | None:
    """``value`` (surrounding blanks aside) as a non-negative integer, or None when it is
    anything but ASCII digits; a number of more than ``MAX_DIGITS`` digits is ``TOO_LARGE``."""
    digits = value.strip(" \t")
    if _DIGITS.fullmatch(digits) is None:
        return None
    return int(digits) if len(digits) <= MAX_DIGITS else TOO_LARGE
