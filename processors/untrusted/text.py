"""Text as the screen and the fences see it: look-alike and invisible characters folded."""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def fold(text: str) -> str:
    """NFKC (full-width and look-alike forms folded) with invisible characters removed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def normalize(text: str) -> str:
    """:func:`fold`, casefolded: the text a pattern sees, so full-width letters or a
    zero-width space inside a word still match."""
    return fold(text).casefold()
