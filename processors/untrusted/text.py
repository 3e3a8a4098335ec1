"""Text as the screen and the fences see it: what a reader (or a model) would read it as.

Attackers spell instructions and fence delimiters with characters that look like others:
full-width and mathematical letters (NFKC folds those), invisible marks (removed), letters
with added accents (the marks dropped), and letters of other scripts that look like Latin
ones — Cyrillic ``е`` in ``untrustеd``, Greek ``ο`` in ``ignοre``, small capitals, angle
brackets and slashes of other blocks (mapped by :data:`CONFUSABLES`, the look-alikes of the
Latin letters and the delimiter characters from Unicode's confusables list that a font
renders indistinguishably). :func:`skeleton` is that reading; the screen matches its patterns
on it and the fences neutralize any delimiter it reveals.
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
import urllib.parse
from collections.abc import Callable

_INVISIBLE = re.compile(r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
                        r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff"
                        r"\uffa0]")  # fmt: skip

# look-alike -> what it is read as (after NFKC; NFKC already folds full-width, mathematical,
# circled and compatibility forms)
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "ԛ": "q",
    "г": "r", "ѕ": "s", "т": "t", "ц": "u", "ѵ": "v", "ԝ": "w", "х": "x", "у": "y",
    "ԁ": "d", "ɡ": "g", "ү": "y", "ѡ": "w", "п": "n", "и": "u",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
    "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y",
    "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "ς": "s", "σ": "o", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w",
    "ϲ": "c", "ϳ": "j", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I",
    "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "Ϲ": "C",
    # Latin small capitals and other Latin look-alikes
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ı": "i",
    "ȷ": "j", "ɑ": "a", "ɩ": "i", "ʋ": "u", "ℓ": "l", "ꞵ": "b",
    # Armenian, Cherokee and others that render as Latin letters
    "օ": "o", "ս": "u", "ց": "g", "հ": "h", "ո": "n", "Ꭺ": "A", "Ᏼ": "B", "Ꮯ": "C",
    "Ꭼ": "E", "Ꮋ": "H", "Ꮶ": "K", "Ꮇ": "M", "Ꮲ": "P", "Ꭲ": "T",
    # delimiters: angle brackets and slashes of other blocks
    "‹": "<", "〈": "<", "⟨": "<", "﹤": "<", "ᐸ": "<", "˂": "<", "❮": "<", "⧼": "<",
    "›": ">", "〉": ">", "⟩": ">", "﹥": ">", "ᐳ": ">", "˃": ">", "❯": ">", "⧽": ">",
    "⁄": "/", "∕": "/", "⧸": "/", "╱": "/", "〳": "/", "᜵": "/",
}  # fmt: skip
_TABLE = str.maketrans(CONFUSABLES)


def fold(text: str) -> str:
    """NFKC (full-width and compatibility forms folded) with invisible characters removed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def skeleton(text: str) -> str:
    """``text`` as it reads: :func:`fold`, added accents dropped, and every look-alike of a
    Latin letter or a delimiter replaced by what it looks like (:data:`CONFUSABLES`). Case is
    kept. Plain ASCII text is returned unchanged."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", fold(text))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).translate(_TABLE)


def normalize(text: str) -> str:
    """:func:`skeleton`, casefolded: the text a screen pattern sees, so full-width letters, a
    zero-width space, an accent or a Cyrillic look-alike inside a word still match."""
    return skeleton(text).casefold()


_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&(?:#\d{2,7}|#x[0-9A-Fa-f]{2,6}|[A-Za-z]{2,10});")
_ESCAPE = re.compile(r"\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9A-Fa-f]{2}){12,}\b")


def decodings(text: str) -> list[str]:
    """What ``text`` says once decoded, when it carries encoded text: percent-encoding, HTML
    entities, ``\\u``/``\\x`` escapes, and base64 or hex runs that decode to readable UTF-8
    text (a model decodes those as readily as it reads plain text). Empty when there is
    nothing encoded in it."""
    found: list[str] = []
    if _PERCENT.search(text):
        found.append(urllib.parse.unquote_plus(text))
    if _ENTITY.search(text):
        found.append(html.unescape(text))
    if _ESCAPE.search(text):
        found.append(_ESCAPE.sub(lambda m: chr(int(m.group(0)[2:], 16)), text))
    for run in _BASE64.findall(text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            readable = _readable(decode, run)
            if readable:
                found.append(readable)
                break
    for run in _HEX.findall(text):
        readable = _readable(bytes.fromhex, run)
        if readable:
            found.append(readable)
    return [f for f in found if f != text]


def _readable(decode: Callable[[str], bytes], run: str) -> str | None:
    """``run`` decoded, when that gives words (printable UTF-8 with a space), else None."""
    try:
        padded = run + "=" * (-len(run) % 4) if decode is not bytes.fromhex else run
        raw = decode(padded)
        text = raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    printable = sum(ch.isprintable() for ch in text)
    return text if " " in text and printable >= 0.95 * len(text) else None
