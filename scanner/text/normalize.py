"""Text normalization before detection: the text as a reader sees it, in plain letters the detectors match.

Hidden or look-alike characters must not hide a name from the checks: "Sa\u200brah", "Sa\u00adrah",
"Sa\u0307rah" (a combining dot), "\u202eharaS\u202c" (displayed reversed: "Sarah"), "S\u0430rah" (a
Cyrillic а), "Ｓａｒａｈ" (full width) and "𝐒𝐚𝐫𝐚𝐡" (mathematical bold) all read "Sarah" here:

* format characters (Unicode category Cf: zero-width space/joiners, soft hyphen, word joiner, BOM, bidi
  embeddings, overrides and isolates) are removed;
* a run under a right-to-left override (U+202E) is put in the order it is displayed (reversed);
* combining marks on Latin, Greek and Cyrillic letters are removed (the registry folds accents anyway);
* letters, digits and spaces are NFKC-normalized (full-width and mathematical letters become plain ones;
  punctuation and symbols such as "…" and "™" are left as they are);
* Cyrillic and Greek letters that look like Latin ones are mapped to them inside words that mix them
  with Latin letters or are made of look-alikes only.

`Normalized.origin` maps every character of the normalized text back to its offset in the original, so
findings keep offsets into what the user wrote (`to_original`). `hidden` lists the words where a
character was invisible, reordered or a look-alike: rule PHI901 reports them (readers and the checks
would otherwise see different things). ASCII text is returned as is, at no cost.

Before all of it, at every input boundary, `core.scrub` replaces lone surrogates (core/scrub.py).
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PUSH = {"\u202a": "LRE", "\u202b": "RLE", "\u202d": "LRO", "\u202e": "RLO"}
_ISOLATE = {"\u2066", "\u2067", "\u2068"}
_PARAGRAPH = {"\n", "\r", "\u2029", "\x1c", "\x1d", "\x1e", "\x85"}
#: default-ignorable code points outside category Cf: they show nothing either
_IGNORABLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
                       + "".join(chr(c) for c in range(0xFE00, 0xFE10)))
#: Cyrillic and Greek letters drawn like Latin ones (the common confusables for names)
CONFUSABLES = {
    **dict(zip("аеорсухіјѕһԁԛԝӏɡ", "aeopcyxijshdqwlg", strict=True)),
    **dict(zip("АВЕКМНОРСТХУІЈЅҺԌ", "ABEKMHOPCTXYIJSHG", strict=True)),
    **dict(zip("αοντιυκχ", "aovtiukx", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True)),
}
_WORD = re.compile(r"\w+")


@dataclass
class Hidden:
    """A word of the normalized text in which something was invisible, reordered or a look-alike."""

    start: int
    end: int
    what: list[str] = field(default_factory=list)  # e.g. "U+200B ZERO WIDTH SPACE"


@dataclass
class Normalized:
    original: str
    text: str
    origin: list[int] | None = None  # origin[i]: offset in `original` of text[i] (None: text is original)
    hidden: list[Hidden] = field(default_factory=list)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that normalized text[start:end] came from (hidden characters inside
        it included)."""
        if self.origin is None:
            return start, end
        start, end = max(0, min(start, len(self.text))), max(0, min(end, len(self.text)))
        if end <= start:
            at = self.origin[start] if start < len(self.origin) else len(self.original)
            return at, at
        seg = self.origin[start:end]
        return min(seg), max(seg) + 1

    def shown(self, start: int, end: int) -> str:
        """The original characters of normalized text[start:end] and the invisible ones around them, the
        invisible and foreign ones spelled out ("Sa<U+200B>rah")."""
        s, e = self.to_original(start, end)
        while s > 0 and _invisible(self.original[s - 1]) and start - s < 64:
            s -= 1
        while e < len(self.original) and _invisible(self.original[e]) and e - end < 64:
            e += 1
        return "".join(c if c.isascii() and c.isprintable() or _plain_letter(c) else f"<U+{ord(c):04X}>"
                       for c in self.original[s:e])


def _plain_letter(c: str) -> bool:
    return c.isalpha() and unicodedata.name(c, "").startswith("LATIN") and not unicodedata.combining(c)


def _describe(c: str) -> str:
    return f"U+{ord(c):04X} {unicodedata.name(c, 'UNNAMED')}"


def _display_order(text: str) -> tuple[list[int], set[int]]:
    """Offsets of `text` in the order they are displayed, as far as it matters here (runs under a
    right-to-left override are reversed; everything else keeps its order), and the reversed offsets."""
    order: list[int] = []
    flipped: set[int] = set()
    stack: list[str] = []
    run: list[int] = []
    for i, c in enumerate(text):
        if c in _PARAGRAPH:
            stack.clear()
        elif c in _PUSH:
            stack.append(_PUSH[c])
        elif c == "\u202c" and stack and stack[-1] != "ISO":  # a PDF closes an embedding, not an isolate
            stack.pop()
        elif c in _ISOLATE:
            stack.append("ISO")
        elif c == "\u2069":
            while stack and stack.pop() != "ISO":
                pass
        if stack and stack[-1] == "RLO" and c not in BIDI_CONTROLS:
            run.append(i)
            continue
        order.extend(reversed(run))
        flipped.update(run if len(run) > 1 else ())
        run = []
        order.append(i)
    order.extend(reversed(run))
    flipped.update(run if len(run) > 1 else ())
    return order, flipped


def _invisible(c: str) -> bool:
    """Format characters and the other default-ignorable code points (fillers, variation selectors)."""
    return unicodedata.category(c) == "Cf" or c in _IGNORABLE


def normalize(text: str) -> Normalized:
    """See the module docstring."""
    if text.isascii():
        return Normalized(text, text)
    out: list[str] = []
    origin: list[int] = []
    marks: list[tuple[int, str]] = []  # (normalized position, what) for invisible and reordered characters
    order, flipped = _display_order(text)
    for i in order:
        c = text[i]
        if i in flipped:
            marks.append((len(out), "text displayed right to left (U+202E RIGHT-TO-LEFT OVERRIDE)"))
        if c.isascii():
            out.append(c)
            origin.append(i)
            continue
        cat = unicodedata.category(c)
        if _invisible(c):
            if c in BIDI_CONTROLS or _inside_word(text, i):
                marks.append((len(out), _describe(c)))
            continue
        if cat[0] == "L" or cat in ("Nd", "Zs"):  # full-width and styled letters, digits, spaces; not "…" or "™"
            c = unicodedata.normalize("NFKC", c)
        for n in c:
            if not (unicodedata.category(n).startswith("M") and out and _letter_with_marks(out[-1])):
                out.append(n)
                origin.append(i)
    norm, looks = _map_confusables("".join(out))
    return Normalized(text, norm, origin, _words(norm, marks + looks))


def _inside_word(text: str, i: int) -> bool:
    """A format character with a letter or digit on both sides (skipping other format characters)."""
    def near(step: int) -> bool:
        j = i + step
        while 0 <= j < len(text) and abs(j - i) < 16 and (_invisible(text[j]) or unicodedata.category(text[j]) == "Mn"):
            j += step
        return 0 <= j < len(text) and text[j].isalnum()
    return near(-1) and near(1)


def _letter_with_marks(c: str) -> bool:
    return c.isalpha() and unicodedata.name(c, "").startswith(("LATIN", "GREEK", "CYRILLIC"))


def _map_confusables(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Map look-alike letters to Latin inside words that mix them with Latin letters, or that are made of
    look-alikes only in a text with no other Cyrillic or Greek letter (real Russian or Greek is left alone)."""
    if not any(c in CONFUSABLES for c in text):
        return text, []
    foreign_script = any(c.isalpha() and c not in CONFUSABLES and not c.isascii()
                         and unicodedata.name(c, "").startswith(("CYRILLIC", "GREEK")) for c in text)
    chars = list(text)
    marks = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        foreign = [k for k, c in enumerate(word) if c in CONFUSABLES]
        if not foreign:
            continue
        latin = any(c.isascii() and c.isalpha() for c in word)
        letters = [c for c in word if c.isalpha()]
        if latin or (not foreign_script and len(letters) >= 2 and all(c in CONFUSABLES for c in letters)):
            for k in foreign:
                chars[m.start() + k] = CONFUSABLES[word[k]]
            marks.append((m.start(), "look-alike letters " + ", ".join(
                sorted({_describe(word[k]) for k in foreign}))))
    return "".join(chars), marks


def _words(text: str, marks: list[tuple[int, str]]) -> list[Hidden]:
    """One Hidden per word of `text` holding a mark (a mark between words goes with the next word)."""
    if not marks:
        return []
    bounds = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    starts = [b[0] for b in bounds]
    found: dict[tuple[int, int], Hidden] = {}
    for pos, what in marks:
        k = bisect.bisect_right(starts, pos) - 1  # the last word starting at or before pos
        if k >= 0 and pos <= bounds[k][1]:
            span = bounds[k]
        elif k + 1 < len(bounds):
            span = bounds[k + 1]
        else:
            span = (max(0, pos - 1), min(len(text), pos + 1))
        h = found.setdefault(span, Hidden(span[0], span[1]))
        if what not in h.what:
            h.what.append(what)
    return sorted(found.values(), key=lambda h: h.start)
