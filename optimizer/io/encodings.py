"""Recognise the legacy Vietnamese encodings that planners' old files still use.

Input files must be UTF-8.  A CSV that is not valid UTF-8 is refused; to tell the
planner *which* converter setting to use, :func:`guess_legacy_encoding` decodes the bytes
as Windows-1258, TCVN3 (ABC) and VNI and keeps the reading whose words most often read
as Vietnamese syllables.  :data:`FONT_GLYPHS_PATTERN` spots the same encodings after they
were pasted into a Unicode file (text typed with a ``.Vn`` or ``VNI-`` font).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Code points 0xA0–0xFF of TCVN 5712:1993 (VN3, the "ABC" fonts); lower bytes are ASCII.
_TCVN3_HIGH = (
    "\u00a0\u0102\u00c2\u00ca\u00d4\u01a0\u01af\u0110\u0103\u00e2\u00ea\u00f4\u01a1\u01b0"
    "\u0111\u1eb0\u0300\u0309\u0303\u0301\u0323\u00e0\u1ea3\u00e3\u00e1\u1ea1\u1eb2\u1eb1"
    "\u1eb3\u1eb5\u1eaf\u1eb4\u1eae\u1ea6\u1ea8\u1eaa\u1ea4\u1ec0\u1eb7\u1ea7\u1ea9\u1eab"
    "\u1ea5\u1ead\u00e8\u1ec2\u1ebb\u1ebd\u00e9\u1eb9\u1ec1\u1ec3\u1ec5\u1ebf\u1ec7\u00ec"
    "\u1ec9\u1ec4\u1ebe\u1ed2\u0129\u00ed\u1ecb\u00f2\u1ed4\u1ecf\u00f5\u00f3\u1ecd\u1ed3"
    "\u1ed5\u1ed7\u1ed1\u1ed9\u1edd\u1edf\u1ee1\u1edb\u1ee3\u00f9\u1ed6\u1ee7\u0169\u00fa"
    "\u1ee5\u1eeb\u1eed\u1eef\u1ee9\u1ef1\u1ef3\u1ef7\u1ef9\u00fd\u1ef5\u1ed0"
)
_TCVN3_TABLE = {0xA0 + i: ch for i, ch in enumerate(_TCVN3_HIGH)}

# VNI-Windows writes a toned vowel as the base letter followed by a mark byte; the
# marks below are shown as their Windows-1252 glyphs (lower case, upper case).
_TONES = ("", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323")  # none, sắc, huyền, hỏi, ngã, nặng
_VNI_TONE_MARKS = ("", "ùÙ", "øØ", "ûÛ", "õÕ", "ïÏ")
_VNI_CIRCUMFLEX = ("âÂ", "áÁ", "àÀ", "åÅ", "ãÃ", "äÄ")  # on a, e, o: ^ with each tone
_VNI_BREVE = ("êÊ", "éÉ", "èÈ", "úÚ", "üÜ", "ëË")  # on a: breve with each tone
_VNI_SINGLE = {
    "ô": "ơ",
    "Ô": "Ơ",
    "ö": "ư",
    "Ö": "Ư",
    "ñ": "đ",
    "Ñ": "Đ",
    "í": "í",
    "Í": "Í",
    "ì": "ì",
    "Ì": "Ì",
    "æ": "ỉ",
    "Æ": "Ỉ",
    "ó": "ĩ",
    "Ó": "Ĩ",
    "ò": "ị",
    "Ò": "Ị",
    "î": "ỵ",
    "Î": "Ỵ",
}


def _compose(base: str, *marks: str) -> str:
    return unicodedata.normalize("NFC", base + "".join(marks))


@lru_cache(maxsize=1)
def _vni_pairs() -> dict[str, str]:
    """Two-character VNI sequences (base letter + mark glyph) → Vietnamese letter."""
    pairs: dict[str, str] = {}
    for case in (0, 1):
        for tone, marks in zip(_TONES, _VNI_TONE_MARKS, strict=True):
            if not marks:
                continue
            for base in "aeiouyơư":
                b = base.upper() if case else base
                pairs[b + marks[case]] = _compose(b, tone)
        for tone, marks in zip(_TONES, _VNI_CIRCUMFLEX, strict=True):
            for base in "aeo":
                b = base.upper() if case else base
                pairs[b + marks[case]] = _compose(b, "\u0302", tone)
        for tone, marks in zip(_TONES, _VNI_BREVE, strict=True):
            b = "A" if case else "a"
            pairs[b + marks[case]] = _compose(b, "\u0306", tone)
    return pairs


@lru_cache(maxsize=1)
def vietnamese_letters() -> frozenset[str]:
    """Every precomposed Vietnamese letter with a diacritic (NFC), both cases."""
    letters = {"đ", "Đ"}
    for base in ("a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y"):
        for tone in _TONES:
            letter = _compose(base, tone)
            letters.update((letter, letter.upper()))
    letters.difference_update(set("aeiouyAEIOUY"))
    return frozenset(letters)


def decode_vni(data: bytes) -> str:
    """Decode VNI-Windows bytes into Unicode (NFC)."""
    text = data.decode("latin-1")
    text = "".join(_VNI_SINGLE.get(ch, ch) for ch in text)
    pairs = _vni_pairs()
    pattern = re.compile("|".join(re.escape(k) for k in sorted(pairs, key=len, reverse=True)))
    return unicodedata.normalize("NFC", pattern.sub(lambda m: pairs[m.group(0)], text))


def decode_tcvn3(data: bytes) -> str:
    """Decode TCVN3 (ABC) bytes into Unicode (NFC)."""
    text = data.decode("latin-1").translate(_TCVN3_TABLE)
    return unicodedata.normalize("NFC", text)


_TONE_MARKS = frozenset(_TONES[1:])
_WORD = re.compile(r"[^\s,;.:()\"'/-]+")


def _toned(ch: str) -> bool:
    return any(m in _TONE_MARKS for m in unicodedata.normalize("NFD", ch))


def _viet_score(text: str) -> float:
    """Share of the words with non-ASCII letters that read as Vietnamese syllables.

    A word reads as Vietnamese when each of its non-ASCII characters is a Vietnamese
    letter and at most one of them carries a tone mark (a syllable has one tone).
    """
    letters = vietnamese_letters()
    good = total = 0
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        total += 1
        foreign = [ch for ch in word if not ch.isascii()]
        if all(ch in letters for ch in foreign) and sum(map(_toned, foreign)) <= 1:
            good += 1
    return good / total if total else 0.0


def guess_legacy_encoding(data: bytes) -> str | None:
    """Name the legacy Vietnamese encoding of bytes that are not UTF-8.

    Parameters
    ----------
    data
        The file's bytes (only the first 64 KiB are examined).

    Returns
    -------
    str or None
        ``"windows-1258"``, ``"tcvn3"`` or ``"vni"`` when one reading is clearly
        Vietnamese, else ``None``.
    """
    sample = data[:65536]
    readings = {
        "windows-1258": unicodedata.normalize("NFC", sample.decode("cp1258", errors="replace")),
        "tcvn3": decode_tcvn3(sample),
        "vni": decode_vni(sample),
    }
    scores = {name: _viet_score(text) for name, text in readings.items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] >= 0.9 else None


#: Glyphs that TCVN3 and VNI fonts put where Vietnamese letters should be (``"B¶o"``) and
#: that no Vietnamese word contains: TCVN3's ¡–¿ range and VNI's mark glyphs (a regex).
FONT_GLYPHS_PATTERN = (
    "[\u00a1-\u00bf\u00d8\u00f8\u00d6\u00f6\u00d1\u00f1\u00cb\u00eb"
    "\u00dc\u00fc\u00c4\u00e4\u00c5\u00e5\u00c6\u00e6\u00cf\u00ef\u00db\u00fb]"
)
