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

from .analysis import Sentence, TextAnalysis
from .rules import Ctx, Hit, Rule, detector, is_promo, persons_between

NOT_PATIENTS = ("staff", "celebrity", "spa", "recipient")


def _compiled(rule: Rule, key: str) -> re.Pattern[str] | None:
    """One alternation of the rule's `key` patterns, compiled once per loaded rule."""
    cache = f"_{key}_re"
    if cache not in rule.params:
        pats = rule.params.get(key) or []
        rule.params[cache] = re.compile("|".join(f"(?:{p})" for p in pats), re.I) if pats else None
    rx = rule.params[cache]
    return rx if isinstance(rx, re.Pattern) else None


def unsafe_sentences(rule: Rule, analysis: TextAnalysis) -> list[Sentence]:
    """The sentences no safe-reply marker of `rule` covers (not education, a promotion or a pleasantry)."""
    safe = _compiled(rule, "safe")
    return [s for s in analysis.sentences
            if not (s.generic or is_promo(s) or (safe is not None and safe.search(s.text)))]


def _family_re(ctx: Ctx) -> re.Pattern[str]:
    cached = ctx.cache.get("family_words_re")
    if cached is None:
        cached = ctx.cache["family_words_re"] = re.compile(rf"\b(?:{ctx.lex.alternation('family_words')}|kids?|"
                                                           r"little one|hubby|wifey)\b", re.I)
    return cached


def _about_someone(ctx: Ctx, s: Sentence) -> bool:
    """The sentence speaks to the reviewer ("you"), of a companion ("your mom", "the kids") or of a person
    who is not staff, a celebrity or the spa."""
    if s.has_2p or _family_re(ctx).search(s.text):
        return True
    return any(p.role not in NOT_PATIENTS for p in persons_between(ctx, s.start, s.end))


@detector("personal_remark")
def _personal_remark(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """The first sentence to or about a person that no safe-reply marker covers, in a reply to someone who is
    not asking a general question."""
    review = (ctx.item.in_reply_to or "").strip()
    asks = _compiled(rule, "general_review")
    if not review or ctx.a.reviewer_prospect or (asks is not None and asks.search(review)):
        return
    for s in unsafe_sentences(rule, ctx.a):
        if _about_someone(ctx, s):
            yield Hit(s.start, s.end, s.text.strip(), pattern="personal remark beyond a generic reply")
            return
