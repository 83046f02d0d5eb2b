"""Finding registry patients in text and in image file names: a token index over full names, aliases,
nicknames and social handles (owned by the registry; `Registry.find_in_text` / `find_in_filename`).

Lookups are dictionary hits per token (never a loop over patients): full names and aliases (any case
when two or more words), first name + last initial ("Jess M."), first + last skipping middle names,
names run together ("#JessicaMorales"), handles with or without "@" (any case), possessives
("Priya's"), one-edit typos in words of 5+ letters ("Jessica Moralez"), and a first name alone when
capitalised. A first name shared by several patients returns all of them (ambiguous, never guessed);
a first name followed by a different surname ("Jessica Smith") is somebody else and is not matched.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KIND_RANK = {"full_name": 0, "alias": 1, "first_last": 2, "first_last_initial": 3}
# capitalised at the start of a sentence these are ordinary words; elsewhere they may be names
_COMMON = """
grace hope joy faith charity mercy patience honor summer autumn winter spring april may june august
dawn eve star sky rose lily daisy iris ivy violet amber ruby pearl jade crystal sunny brook river storm
rain will mark bill pat art rich frank chase hunter sage bliss glow bella luna destiny honey angel
happy merry lucky sharon dean gene guy harry jack max miles penny rob sandy skip victor wade
"""
COMMON_WORDS = frozenset(_COMMON.split())
TOKEN_RE = re.compile(r"@?\w[\w.'’-]*", re.UNICODE)
FILE_TOKEN_RE = re.compile(r"[A-Z]?[a-z\u00df-\u024f']+|[A-Z\u00c0-\u00de]+(?![a-z])|\d+")
POSSESSIVE_RE = re.compile(r"['’]s?$")
TRAIL = ".,!?;:\"”“()[]{}…"


@dataclass(frozen=True)
class PersonMatch:
    start: int
    end: int
    text: str
    patient_ids: tuple[str, ...]
    matched_by: str  # full_name | alias | handle | first_last_initial | first_name | fuzzy | filename
    score: float


def fold(word: str) -> str:
    """Lower case, curly apostrophes straight, accents dropped (Sofía -> sofia)."""
    word = word.lower().replace("’", "'")
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word


def key_of(token: str) -> str:
    """The index key of a text token: folded, trailing punctuation and possessive removed."""
    k = fold(token).rstrip(TRAIL)
    k = POSSESSIVE_RE.sub("", k) if len(k) > 2 else k
    return k.strip(TRAIL + "'-")


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))} | {word}


def within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance <= 1 (or one transposition), via shared single-deletion variants."""
    return abs(len(a) - len(b)) <= 1 and bool(_deletes(a) & _deletes(b))


def _bare_handle(handle: str) -> bool:
    """Handles distinctive enough to match without their '@' (they carry a dot, underscore or digit)."""
    return len(handle) >= 5 and bool(re.search(r"[._\d]", handle))


class NameIndex:
    """Immutable index over (patient_id, full_name, aliases, social_handles) tuples."""

    def __init__(self, people: Iterable[tuple[str, str, Sequence[str], Sequence[str]]]):
        self.phrases: dict[tuple[str, ...], set[str]] = {}
        self.kinds: dict[tuple[str, ...], str] = {}
        self.firsts: dict[str, set[str]] = {}
        self.handles: dict[str, set[str]] = {}
        self.joined: dict[str, set[str]] = {}
        self.fuzzy_last: dict[str, set[tuple[str, str]]] = {}
        for pid, full_name, aliases, handles in people:
            for n, name in enumerate((full_name, *aliases)):
                toks = tuple(k for k in (key_of(t) for t in name.split()) if k)
                if toks:
                    self._add_name(pid, toks, "full_name" if n == 0 else "alias")
            for h in handles:
                key = fold(h).lstrip("@").rstrip(".")
                if key:
                    self.handles.setdefault(key, set()).add(pid)
        self.max_len = max((len(k) for k in self.phrases), default=1)

    def _put(self, toks: tuple[str, ...], pid: str, kind: str) -> None:
        self.phrases.setdefault(toks, set()).add(pid)
        old = self.kinds.get(toks)
        if old is None or KIND_RANK[kind] < KIND_RANK[old]:
            self.kinds[toks] = kind

    def _add_name(self, pid: str, toks: tuple[str, ...], kind: str) -> None:
        self._put(toks, pid, kind)
        if len(toks) >= 2:
            first, last = toks[0], toks[-1]
            if len(last) > 1:
                self._put((first, last[0]), pid, "first_last_initial")
            if len(toks) >= 3:
                self._put((first, last), pid, "first_last")
            joined = "".join(toks)
            if len(joined) >= 8:
                self.joined.setdefault(joined, set()).add(pid)
            if len(last) >= 5:
                for d in _deletes(last):
                    self.fuzzy_last.setdefault(d, set()).add((first, pid))
        if len(toks[0]) >= 3 and (len(toks) >= 2 or kind == "alias"):
            self.firsts.setdefault(toks[0], set()).add(pid)

    # -- text --------------------------------------------------------------------------------------
    def find_in_text(self, text: str) -> list[PersonMatch]:
        """People named in `text`, left to right; the longest match at a position wins, none overlap."""
        if not self.phrases and not self.handles:
            return []
        toks = [(m.start(), m.end(), m.group(0)) for m in TOKEN_RE.finditer(text)]
        keys = [key_of(t[2]) for t in toks]
        out: list[PersonMatch] = []
        i = 0
        while i < len(toks):
            found = self._match_at(text, toks, keys, i)
            if found is None:
                i += 1
                continue
            out.append(found[0])
            i += found[1]
        return out

    def _match_at(self, text: str, toks: list[tuple[int, int, str]], keys: list[str],
                  i: int) -> tuple[PersonMatch, int] | None:
        start, _end, word = toks[i]
        key = keys[i]
        if not key:
            return None
        if word.startswith("@"):
            ids = self.handles.get(key.lstrip("@").rstrip("."))
            return (self._span(text, start, toks[i][1], ids, "handle", 1.0), 1) if ids else None
        if ids := (self.handles.get(key) if _bare_handle(key) else None):
            return self._span(text, start, toks[i][1], ids, "handle", 1.0), 1
        if ids := (self.joined.get(key) if len(key) >= 8 else None):
            return self._span(text, start, toks[i][1], ids, "full_name", 1.0), 1
        for n in range(min(self.max_len, len(toks) - i), 0, -1):
            window = tuple(keys[i:i + n])
            ids = self.phrases.get(window)
            if not ids or not self._contiguous(text, toks, i, n):
                continue
            kind = self.kinds[window]
            if n == 1 and not self._lone_name_ok(text, toks, i):
                continue
            if kind == "first_last_initial" and not word[:1].isupper():
                continue
            score = {"first_last_initial": 0.9, "first_last": 0.95}.get(kind, 1.0)
            kind = "alias" if kind == "first_last" else kind
            return self._span(text, start, toks[i + n - 1][1], ids, kind, score, initial=len(window[-1]) == 1), n
        if i + 1 < len(toks) and word[:1].isupper() and toks[i + 1][2][:1].isupper() and \
                self._contiguous(text, toks, i, 2):
            first, last = key, keys[i + 1]
            if len(last) >= 5:
                cands = {pid for d in _deletes(last) for f, pid in self.fuzzy_last.get(d, ())
                         if (f == first or (len(first) >= 5 and within_one_edit(first, f)))}
                if cands:
                    return self._span(text, start, toks[i + 1][1], cands, "fuzzy", 0.85), 2
        if word[:1].isupper() and (ids := self.firsts.get(key)) and self._lone_name_ok(text, toks, i):
            return self._span(text, start, toks[i][1], ids, "first_name", 0.7), 1
        return None

    @staticmethod
    def _contiguous(text: str, toks: list[tuple[int, int, str]], i: int, n: int) -> bool:
        """The n tokens from i are separated by spaces only (one name, not two list items)."""
        for j in range(i, i + n - 1):
            gap = text[toks[j][1]:toks[j + 1][0]]
            if gap.strip() or "\n" in gap or (toks[j][2][-1:] in TRAIL and len(key_of(toks[j][2])) > 1):
                return False
        return True

    @staticmethod
    def _lone_name_ok(text: str, toks: list[tuple[int, int, str]], i: int) -> bool:
        """Whether a single capitalised word may stand for a person: not a common word opening a
        sentence, and not followed by a surname of its own (then it is somebody else)."""
        start, _end, word = toks[i]
        if not word[:1].isupper():
            return False
        if key_of(word) in COMMON_WORDS and _sentence_initial(text, start):
            return False
        if i + 1 < len(toks) and not POSSESSIVE_RE.search(word) and word[-1:] not in TRAIL:
            nxt = toks[i + 1][2]
            gap = text[toks[i][1]:toks[i + 1][0]]
            shouting = word.isupper() and nxt.isupper() and len(word) > 1
            if not gap.strip() and "\n" not in gap and nxt[:1].isupper() and not shouting:
                return False
        return True

    @staticmethod
    def _span(text: str, s: int, e: int, ids: set[str], kind: str, score: float,
              initial: bool = False) -> PersonMatch:
        """Trim trailing punctuation and a possessive from the span ("Priya's" -> "Priya"); keep the
        period of a last initial ("Jess M.")."""
        while e > s and text[e - 1] in TRAIL and not (initial and text[e - 1] == "." and text[e - 2:e - 1].isalpha()):
            e -= 1
        m = POSSESSIVE_RE.search(text[s:e])
        if m and e - s - len(m.group(0)) > 1:
            e -= len(m.group(0))
        return PersonMatch(s, e, text[s:e], tuple(sorted(ids)), kind, score)

    # -- file names --------------------------------------------------------------------------------
    def find_in_filename(self, filename: str) -> list[PersonMatch]:
        """People a file name names ('olivia_grant_lips_before.jpg', 'OliviaGrant-after.png',
        'jen.glows_story.jpg'); spans are offsets in `filename`. A first name alone is not enough."""
        name = filename.replace("\\", "/").rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
        out: list[PersonMatch] = []
        taken: list[tuple[int, int]] = []
        off = len(filename) - len(name)
        coarse = [(m.start(), m.end()) for m in re.finditer(r"[^\s_\-+,()\[\]]+", stem)]  # dots kept
        i = 0
        while i < len(coarse):  # handles, which may themselves contain '_' ("teddy_lq_story.jpg")
            for n in (3, 2, 1):
                if i + n > len(coarse):
                    continue
                s, e = coarse[i][0], coarse[i + n - 1][1]
                if ids := self.handles.get(fold(stem[s:e]).lstrip("@").rstrip(".")):
                    out.append(PersonMatch(off + s, off + e, stem[s:e], tuple(sorted(ids)), "filename", 1.0))
                    taken.append((s, e))
                    i += n - 1
                    break
            i += 1
        parts = [(m.start(), m.end(), fold(m.group(0)).strip("'")) for m in FILE_TOKEN_RE.finditer(stem)]
        i = 0
        while i < len(parts):
            if any(s <= parts[i][0] < e for s, e in taken):
                i += 1
                continue
            hit = None
            for n in range(min(self.max_len, len(parts) - i), 0, -1):
                window = tuple(p[2] for p in parts[i:i + n])
                ids = self.phrases.get(window) if n >= 2 else self.joined.get(window[0])
                if ids:
                    hit = (n, ids)
                    break
            if hit is None:
                i += 1
                continue
            n, ids = hit
            s, e = parts[i][0], parts[i + n - 1][1]
            out.append(PersonMatch(off + s, off + e, stem[s:e], tuple(sorted(ids)), "filename", 1.0))
            i += n
        return sorted(out, key=lambda m: m.start)


def _sentence_initial(text: str, start: int) -> bool:
    j = start - 1
    while j >= 0 and text[j] in " \t\r":
        j -= 1
    return j < 0 or text[j] in ".!?\n:\"“”…" or not (text[j].isalnum() or text[j] in ",;'’-&")
