"""The `own_situation_advice` detector: a diagnosis, a prognosis or a dose told in public to someone who wrote
about her own symptoms ("Those bumps are probably milia, they'll clear on their own", "Tylenol every 6 hours").

The advice rules in text.yaml look for instructions (a clinical verb, "you should", "you're fine to"). Advice
also comes as a judgement of the person's body or as a bare dose, with no verb to find. This detector reads the
review first: only when its author writes in the first person about her body, a symptom or her care does a
matching sentence in the reply count as individualized advice (the same words answering a general question
are education).
"""
from __future__ import annotations

from collections.abc import Iterator

from .rules import DOSE_RE, FIRST_PERSON_RE, Ctx, Hit, Rule, detector, is_promo


def _own_situation(ctx: Ctx, rule: Rule) -> bool:
    """The review's author writes in the first person about her body, a symptom or her care."""
    review = ctx.item.in_reply_to or ""
    if not FIRST_PERSON_RE.search(review):
        return False
    lex = ctx.lex
    return any(rx.search(review) for rx in rule.params.get("_own_situation", [])) or any(
        lex.regex(k).search(review) for k in ("conditions", "body_areas", "procedures", "products", "medications"))


@detector("own_situation_advice")
def _own_situation_advice(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Each sentence (not education, not a promotion) that judges, forecasts or doses the asker's situation."""
    if not _own_situation(ctx, rule):
        return
    for s in ctx.a.sentences:
        if s.generic or is_promo(s):
            continue
        dosed = DOSE_RE.search(s.text)
        for rx in [*rule.params["_compiled"], *(rule.params.get("_with_dose", []) if dosed else [])]:
            m = rx.search(s.text)
            if m:
                yield Hit(s.start + m.start(), s.start + m.end(), m.group(0), pattern=rx.pattern[:80])
                break
