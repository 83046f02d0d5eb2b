"""The `personal_remark` detector: a reply that says more to the reviewer than thanks confirms a client.

HIPAA-safe review replies are generic: thanks for the review, sorry and please call, general information,
praise for the team, prices and specials (corpus convention 3: a first name in an otherwise generic
thank-you confirms nothing). A reply to someone who wrote about their own visit that adds anything personal
to or about them, or about a companion ("He noticed before you said a word?!", "Tell Bev we said hi",
"it was great to finally meet you"), reads as knowing them as a client, whatever the words. The rule lists
what is safe (`params.safe`: sentence markers of the generic reply), so wording nobody listed is caught.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from .analysis import SECOND_PERSON, Sentence, TextAnalysis
from .lexicon import Lexicon
from .rules import Ctx, Hit, Rule, detector, is_promo, persons_between

NOT_PATIENTS = ("staff", "celebrity", "spa", "recipient")


JOINED_RE = re.compile(r",\s*(?=and\b)|;|\s[—–-]\s")
INTERJECTION_RE = re.compile(r"\b(?:hi|hey|hello|dear|aw+|yay|omg|ha(?:ha)*|wow|oh|ok(?:ay)?|noted|yes|yess+|lol|xo+)\b", re.I)


def unsafe_parts(rule: Rule, analysis: TextAnalysis) -> list[tuple[Sentence, int, int]]:
    """(sentence, start, end) of each part no safe-reply marker of `rule` covers, in sentences that are not
    education or a promotion.

    A sentence is judged whole, except where "and", a semicolon or a dash joins a second statement to the
    thanks ("Thank you so much, and tell your mother happy 80th!"): splitting at every comma leaves
    pleasantries nobody listed ("Thank you, Meg, we loved reading this!"; tried on new sentences: more
    false alarms)."""
    safe = rule.params.get("_safe", [])
    out = []
    for s in analysis.sentences:
        if s.generic or is_promo(s):
            continue
        cuts = [0, *(m.start() for m in JOINED_RE.finditer(s.text)), len(s.text)]
        for a, b in zip(cuts, cuts[1:], strict=False):
            if s.text[a:b].strip() and not any(rx.search(s.text[a:b]) for rx in safe):
                out.append((s, s.start + a, s.start + b))
    return out


def unsafe_sentences(rule: Rule, analysis: TextAnalysis) -> list[Sentence]:
    """The sentences with a part no safe-reply marker covers (what a model finding in a reply may name)."""
    return list({s.start: s for s, _a, _b in unsafe_parts(rule, analysis)}.values())


def _family_re(lex: Lexicon) -> re.Pattern[str]:
    return lex.built("family_and_kids", lambda lx: rf"\b(?:{lx.alternation('family_words')}|kids?|little one|hubby|wifey)\b")


def _second_person_re(lex: Lexicon) -> re.Pattern[str]:
    """The words the text analysis counts as second person (English and the lexicon's, e.g. Spanish "tu")."""
    return lex.built("second_person", lambda lx: r"\b(?:{})\b".format(
        "|".join(sorted(re.escape(w) for w in SECOND_PERSON | set(lx.terms("second_person_words"))))))


def _about_someone(rule: Rule, ctx: Ctx, start: int, end: int) -> bool:
    """The part speaks to the reviewer ("you"), of a companion ("your mom", "the kids") or of a person who is
    not staff, a celebrity or the spa, and says something besides their names and a greeting ("Noemi!")."""
    text = ctx.a.text[start:end]
    for rx in rule.params.get("_not_about", []):  # a signature, the generic "you" of "when you smile", "most kids"
        text = rx.sub(" ", text)
    people = [p for p in persons_between(ctx, start, end) if p.text in text]
    rest = text
    for p in people:
        rest = rest.replace(p.text, " ")
    if not re.search(r"[^\W\d_]{2,}", INTERJECTION_RE.sub(" ", rest)):
        return False
    return bool(any(p.role not in NOT_PATIENTS for p in people) or _second_person_re(ctx.lex).search(text)
                or _family_re(ctx.lex).search(text))


@detector("personal_remark")
def _personal_remark(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """The first sentence to or about a person that no safe-reply marker covers, in a reply to someone who is
    not asking a general question (a review reply sent without its review counts as answering a client)."""
    review = (ctx.item.in_reply_to or "").strip()
    if not review and ctx.item.kind != "reply":
        return  # a comment without the comment it answers may be talking to anyone
    if ctx.a.reviewer_prospect or (review and any(rx.search(review) for rx in rule.params.get("_general_review", []))):
        return  # a review reply drafted without its review is judged as answering a client (fail closed)
    for s, start, end in unsafe_parts(rule, ctx.a):
        if _about_someone(rule, ctx, start, end):
            yield Hit(s.start, s.end, s.text.strip(), pattern="personal remark beyond a generic reply")
            return
