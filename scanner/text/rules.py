"""Rule packs: loads the YAML rules in rules/ and evaluates them over a TextAnalysis.

Rules declare (id, category, severity, texts, detector and its parameters, examples); the detectors
here compute. A detector yields `Hit`s (span + evidence); the rule turns each hit into a Finding.
Rules marked `after: true` run in a second pass and may require or exclude categories found by the
first pass (a name is an identifier when the same item confirms a visit, for instance).
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..core.config import SpaProfile
from ..core.models import Finding, Item, Severity
from .analysis import NOT_NAMES, STRONG_IDS, Person, Sentence, TextAnalysis
from .lexicon import TREATMENT_LABELS, Lexicon

PROMO_RE = re.compile(r"\b(special|sale|offer|promo|discount|deal|\d+% off|book (now|online|today|yours)|"
                      r"gift cards?|runs through|this week only|happy hour)\b|"
                      # price and availability answers (issue 10, item 3): "$12 per unit", "filler starts at $650"
                      r"\$\s?\d|\bper (?:unit|syringe|session|vial|area|treatment|visit|month)\b|\b(?:starts?|starting) at\b|"
                      r"\b(?:consults?|consultations?) (?:are|is) (?:always )?(?:free|complimentary)\b", re.I)
# ...unless the sentence reports what this person bought, was charged or had ("you paid $400 for 20 units", "your last
# visit was the Platinum facial, it's $225 now")
OWN_PURCHASE_RE = re.compile(r"\byou(?:'d| had| have)?\s+(?:already\s+)?(?:paid|got|received|bought|purchased|used|were charged|"
                             r"owe|spent)\b|\byour (?:balance|bill|invoice|account|credit|deposit|refund|last|previous|usual|recent)\b",
                             re.I)


class RuleError(ValueError):
    """A rule pack that does not follow the schema."""


@dataclass
class Rule:
    id: str
    category: str
    severity: str
    message: str
    rationale: str
    remediation: str
    citation: str
    examples: dict[str, list[Any]]
    detector: str
    params: dict[str, Any] = field(default_factory=dict)
    kinds: tuple[str, ...] = ("post", "reply", "comment", "message")
    after: bool = False
    requires: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    title: str = ""
    pack: str = ""

    def meta(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "title", "category", "severity", "message", "rationale",
                                                "remediation", "citation", "kinds", "examples", "pack")}


@dataclass
class Hit:
    start: int | None
    end: int | None
    evidence: str
    pattern: str = ""
    score: float = 1.0
    registry_record: str | None = None
    message: str | None = None
    severity: str | None = None
    detail: dict[str, Any] | None = None


@dataclass
class Ctx:
    item: Item
    a: TextAnalysis
    lex: Lexicon
    registry: Any
    as_of: date
    found: set[str]
    profile: SpaProfile
    cache: dict[str, Any] = field(default_factory=dict)
    switches: frozenset[str] = frozenset()  # detector extensions the loaded rules turn on (params.enables)
    describe: tuple[re.Pattern[str], ...] = ()  # descriptions that identify a client (params.describes)


Detector = Callable[[Rule, Ctx], Iterator[Hit]]
DETECTORS: dict[str, Detector] = {}


def detector(name: str) -> Callable[[Detector], Detector]:
    def wrap(fn: Detector) -> Detector:
        DETECTORS[name] = fn
        return fn
    return wrap


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------
@dataclass
class RulePack:
    rules: list[Rule]
    version: str
    lexicon: Lexicon
    profile: SpaProfile = field(default_factory=SpaProfile)
    switches: frozenset[str] = frozenset()
    describe: tuple[re.Pattern[str], ...] = ()

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def evaluate(self, item: Item, analysis: TextAnalysis, registry: Any = None,
                 as_of: date | None = None) -> list[Finding]:
        ctx = Ctx(item, analysis, self.lexicon, registry, as_of or date.today(), set(), self.profile,
                  switches=self.switches, describe=self.describe)
        findings: list[Finding] = []
        deadline = getattr(analysis, "deadline", None)
        for second in (False, True):
            for rule in self.rules:
                if deadline is not None and deadline.skip("the remaining rules"):
                    break
                if rule.after != second or item.kind not in rule.kinds or rule.detector not in DETECTORS:
                    continue
                if rule.requires and not (ctx.found & set(rule.requires)):
                    continue
                if rule.unless and ctx.found & set(rule.unless):
                    continue
                new = [_finding(rule, h) for h in DETECTORS[rule.detector](rule, ctx)]
                findings.extend(new)
                # second-pass rules see what earlier second-pass rules found too (PAT080 runs before the name rules)
                ctx.found |= {f.category for f in new if f.severity in (Severity.high, Severity.medium)}
        if findings and (fully_authorized(ctx) or featured_commenter(ctx)):
            findings = [f for f in findings if f.category not in COVERED_BY_AUTHORIZATION]
        norm = getattr(analysis, "normalized", None)
        if norm is not None and norm.origin is not None:  # offsets into the text as written, not as read
            findings = [_to_original(f, norm) for f in findings]
        if deadline is not None and deadline.cut:
            findings.append(self.budget_finding(deadline))
        return findings

    def budget_finding(self, deadline: Any) -> Finding:
        """PHI900 (scan_incomplete): the item ran out of time and what is listed was not checked."""
        rule = self.get("PHI900") or Rule("PHI900", "scan_incomplete", "medium", "", "", "", "45 CFR 164.530(c)",
                                          {}, "none")
        return _finding(rule, Hit(None, None, "time budget used up", message=deadline.message(),
                                  detail={"budget_seconds": deadline.seconds, "not_checked": list(deadline.cut)}))


def _to_original(f: Finding, norm: Any) -> Finding:
    if f.start is None or f.source != "text":
        return f
    start, end = norm.to_original(f.start, f.end if f.end is not None else f.start)
    return f.model_copy(update={"start": start, "end": end if f.end is not None else None})


def _finding(rule: Rule, h: Hit) -> Finding:
    return Finding(
        rule_id=rule.id, category=rule.category, severity=Severity(h.severity or rule.severity),
        message=h.message or rule.message, evidence=h.evidence, start=h.start, end=h.end, source="text",
        citation=rule.citation, suggestion=rule.remediation, score=round(h.score, 3), pattern=h.pattern or None,
        registry_record=h.registry_record, detail=h.detail,
    )


def _expand(pattern: str, lex: Lexicon) -> str:
    """Replace {lexicon_key} macros by the lexicon's alternation."""
    return re.sub(r"\{(\w+)\}", lambda m: f"(?:{lex.alternation(m.group(1))})" if lex.terms(m.group(1)) else m.group(0),
                  pattern)


# ----------------------------------------------------------------------------------------------
# Shared computations (cached per item)
# ----------------------------------------------------------------------------------------------
def _memo(ctx: Ctx, key: str, fn: Callable[[], Any]) -> Any:
    if key not in ctx.cache:
        ctx.cache[key] = fn()
    return ctx.cache[key]


def persons_between(ctx: Ctx, start: int, end: int) -> list[Person]:
    """The persons that start in [start, end) (binary search over the persons, which are sorted by start)."""
    starts = _memo(ctx, "person_starts", lambda: [p.start for p in ctx.a.persons])
    return ctx.a.persons[bisect.bisect_left(starts, start):bisect.bisect_left(starts, end)]


def is_promo(s: Sentence) -> bool:
    """A promotion or a price/availability answer: general information, not about one person's care."""
    return bool(PROMO_RE.search(s.text)) and not OWN_PURCHASE_RE.search(s.text)


def addressees(ctx: Ctx) -> list[Person]:
    return _memo(ctx, "addressees", lambda: [p for p in ctx.a.persons if p.role == "addressee"])


def advice_sentences(ctx: Ctx) -> set[int]:
    """Start offsets of sentences that give individualized clinical instructions."""
    return _memo(ctx, "advice", lambda: {s.start for s in ctx.a.sentences if _advice_hits(ctx, s)})


def personal(ctx: Ctx, s: Sentence) -> bool:
    """A sentence about the one person the reply answers (not education, not a promotion); once per sentence."""
    known: dict[int, bool] = ctx.cache.setdefault("personal", {})
    if s.start not in known:
        known[s.start] = not (s.generic or is_promo(s) or _answers_general_question(ctx)) and (
            s.has_2p or s.start in advice_sentences(ctx) or bool(addressees(ctx)) or _answers_own_situation(ctx))
    return known[s.start]


def _education_in_answer(ctx: Ctx, s: Sentence) -> bool:
    """In an answer to a question, a sentence that speaks to and of no one ("It involves monthly visits and labs",
    "Lots of moms do facials in the meantime") is general information, even when the asker spoke of herself.
    Needs `enables: [question_education]`."""
    return ("question_education" in ctx.switches and ctx.item.kind in ("reply", "comment")
            and "?" in (ctx.item.in_reply_to or "") and not s.has_2p and not YOU_RE.search(s.text)
            and not persons_between(ctx, s.start, s.end) and s.start not in advice_sentences(ctx))


SOMEONE_RE = re.compile(r"\b(?:you|your|yours|he|she|him|her|his|they|their|who|is that)\b|@\w|(?<=[a-z,] )(?-i:[A-Z][a-z]+ [A-Z][a-z]+)", re.I)
SOMEONE_NOT_YOU_RE = re.compile(r"\b(?:your|yours|he|she|him|her|his|they|their|who|is that)\b|@\w|(?<=[a-z,] )(?-i:[A-Z][a-z]+ [A-Z][a-z]+)", re.I)
FIRST_PERSON_RE = re.compile(r"\b(?:i|i'm|im|i've|ive|i'd|my|me|mine|myself)\b", re.I)


def _answers_general_question(ctx: Ctx) -> bool:
    """The text answers a question asked in general terms (no "I", "my"): education, even when it tags the asker.

    Needs `enables: [general_questions]`."""
    review = ctx.item.in_reply_to or ""
    for own in ctx.profile.handles:  # "@harborandhue can you work out after botox?" asks the spa, about no one
        review = re.sub(re.escape(own) + r"\b", " ", review, flags=re.I)
    return ("general_questions" in ctx.switches and ctx.item.kind in ("reply", "comment") and "?" in review
            and not FIRST_PERSON_RE.search(review)
            and not (SOMEONE_NOT_YOU_RE if "generic_you" in ctx.switches else SOMEONE_RE).search(review))


def _answers_own_situation(ctx: Ctx) -> bool:
    """The text answers someone who wrote about their own body or care ("my forehead feels tight"); every
    sentence that is not education or a promotion is then about that person. Needs `enables: [own_situation]`."""
    review = ctx.item.in_reply_to or ""
    if "own_situation" not in ctx.switches or ctx.item.kind not in ("reply", "comment") or not FIRST_PERSON_RE.search(review):
        return False
    return bool(_care_context(ctx, review) or re.search(r"\b(?:feels?|hurts?|sore|tight|itch\w*|throbb\w*|days? (?:out|after)|"
                                                       r"normal)\b", review, re.I))


def _dedupe_terms(ctx: Ctx, labels: tuple[str, ...]) -> list:
    # a term listed under two keys keeps the first label in TREATMENT_LABELS order, whatever order Presidio returned
    terms = sorted((t for t in ctx.a.treatment_terms if t.label in labels),
                   key=lambda t: (t.start, -(t.end - t.start), TREATMENT_LABELS.index(t.label)))
    out: list = []
    for t in terms:
        if out and t.start < out[-1].end:
            continue
        out.append(t)
    return out


OWNED_BEFORE = re.compile(r"(?:\b(?:your|ur)\s+(?:[\w'-]+\s+){0,2}|\bon\s+|\bsince (?:your|the) last\s+)$", re.I)
OWNED_AFTER = re.compile(r"^\s*(?:that\s+)?(?:we|i|she|he|they|[A-Z][a-z]+)\s+(?:prescribed|gave you|gave|recommended for you|"
                         r"sent you home with|put you on)", re.I)


def _owned(ctx: Ctx, start: int, end: int) -> bool:
    t = ctx.a.text
    return bool(OWNED_BEFORE.search(t[max(0, start - 40):start]) or OWNED_AFTER.search(t[end:end + 40]))


# ----------------------------------------------------------------------------------------------
# Detectors
# ----------------------------------------------------------------------------------------------
@detector("phrase")
def _phrase(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Regex patterns (with lexicon macros); `sentence: personal` keeps hits in sentences about one person."""
    need_personal = rule.params.get("sentence") == "personal"
    skip = rule.params.get("skip_prospect")  # true, or the switch that turns the skip on
    if skip and ctx.a.reviewer_prospect and (skip is True or skip in ctx.switches):
        return  # answers someone who has not been treated: general education, "your first visit" is to come
    for rx in rule.params["_compiled"]:
        for m in rx.finditer(ctx.a.text):
            s = ctx.a.sentence_at(m.start())
            if need_personal and (s is None or not personal(ctx, s)):
                continue
            if s is not None and s.generic and rule.params.get("skip_generic", True):
                continue
            if rule.params.get("own_reader_ok") and ctx.item.kind == "message" and YOU_RE.search(m.group(0)) and recipient(ctx):
                continue  # "you were seen from 1-4pm" in a message to that patient herself (convention 7)
            yield Hit(m.start(), m.end(), m.group(0), pattern=rx.pattern[:80])


def _advice_hits(ctx: Ctx, s: Sentence) -> list[tuple[int, int, str]]:
    if s.generic or is_promo(s):
        return []
    lex = ctx.lex
    verbs = set(lex.terms("clinical_verbs")) or set()
    hits = []
    # imperative clauses: a clause that starts with a clinical verb in base form
    clause_start = True
    for i, tok in enumerate(s.tokens):
        if tok.is_punct and tok.text in ",;:!.—-" or tok.lower_ in ("and", "then", "but", "or", "so"):
            clause_start = True
            continue
        if tok.lower_ in ("please", "just", "also", "yes", "definitely", "gently", "only", "really") or tok.is_space:
            continue
        if clause_start:
            clause_start = False
            word = tok.lower_
            if word in ("do", "don't", "dont") and i + 2 < len(s.tokens) and s.tokens[i + 1].lower_ in ("n't", "not"):
                word = s.tokens[i + 2].lower_
            elif word in ("don't", "dont") and i + 1 < len(s.tokens):
                word = s.tokens[i + 1].lower_
            nxt = s.tokens[i + 1].lower_ if i + 1 < len(s.tokens) else ""
            if nxt in ("you", "u", "ya"):
                continue  # "[we'll] see you", not an instruction
            if word in verbs and tok.tag_ in ("VB", "VBP", "NN", "NNP", "MD") or (word in verbs and tok.i == s.tokens[0].i):
                clause = ctx.a.text[tok.idx: s.end]
                clause = re.split(r"[.;!?]|,\s*(?:and|but)\b", clause)[0]
                if _clinical_object(ctx, clause) or word in lex.terms("inherently_clinical_verbs"):
                    hits.append((tok.idx, tok.idx + len(clause), clause))
    for m in re.finditer(ADVICE_CLEARANCE, s.text, re.I):
        hits.append((s.start + m.start(), s.start + m.end(), m.group(0)))
    if not ctx.a.reviewer_prospect:  # "you should stop your retinol" answers this person's own situation
        for m in re.finditer(ADVICE_MODAL, s.text, re.I):
            clause = re.split(r"[.;!?]", s.text[m.start():])[0]
            if _clinical_object(ctx, clause):
                hits.append((s.start + m.start(), s.start + m.start() + len(clause), clause))
    return hits


ADVICE_CLEARANCE = (r"\b(?:you(?:'re| are)|you'll be|it's|that's|is|are)\s+(?:totally |completely |perfectly |still )?"
                    r"(?:fine|safe|ok|okay|good|cleared)\s+to\s+\w+|\b(?:a small dose|one dose|it) is (?:totally |completely |perfectly )?(?:fine|safe)\b|"
                    r"\bcould be (?:an? )?(?:infection|allergic reaction|reaction|vascular occlusion|cellulitis)\b|"
                    r"\bis (?:totally |completely |perfectly )?normal (?:with|after|for|at)\b|\bis (?:totally|completely|perfectly|super) normal\b|\bis usually (?:residual )?swelling\b|"
                    r"\bshould (?:smooth out|calm down|settle|resolve|go away|fade) (?:in|within|by)\b|"
                    r"\b(?:that's|that is|it's|it is|this is) (?:totally |completely |perfectly |very )?(?:normal|expected|common) (?:at|for|after|with) (?:this|that|\d|day|week|your)\b|"
                    r"\bnothing to worry about\b|\b(?:you(?:'re| are)|you'll be) (?:totally |completely |perfectly )?(?:fine|ok|okay|good) (?:as long as|if|unless)\b|\b(?:will|should) (?:go down|subside|settle down|resolve on its own)\b")
ADVICE_MODAL = (r"\b(?:you(?:'ll)? (?:should|need to|must|have to|want to|can (?:safely )?(?:resume|restart|start|stop))|"
                r"make sure (?:to|you)|be sure to|we(?:'d)? (?:recommend|suggest|advise) (?:that )?you|i(?:'d)? (?:recommend|suggest) (?:that )?you|"
                # "we'd hold off on the laser", a third person told what to do ("tell her to stop her retinol", "he should
                # keep the site dry")
                r"we(?:'d| would) (?:hold off|wait|skip|pause|avoid|stop)|(?:tell|remind|ask) (?:him|her|them) (?:to|not to)|"
                r"(?:she|he|they)(?:'ll)? (?:should(?:n't| not)?|needs? to|must|has to|have to|can't|cannot|can (?:resume|restart|start|stop)))\b")
DOSE_RE = re.compile(r"\b\d+\s?(?:mg|ml|mcg|units?|iu|g a day|grams?)\b|\b(?:once|twice|three times|\d+x|\d+ times) (?:a|per) (?:day|night|week)\b|"
                     r"\b\d+x a day\b|\bevery \d+ hours\b|\bfor (?:about )?\d+ (?:minutes|hours|days|weeks)\b|\bat night\b|"
                     r"\b\d+ (?:more )?(?:minutes|hours|days|weeks)\b|\bon/off\b|\btonight\b|\bpropped up\b|"
                     # durations in words: "another week", "ten minutes of walking a day"
                     r"\b(?:another|one more|a few more|a couple more|two|three|four|five|six|seven|eight|nine|ten)\s+"
                     r"(?:more\s+)?(?:minutes|hours|days|weeks|months|nights|week|month|night)\b", re.I)


def _clinical_object(ctx: Ctx, clause: str) -> bool:
    lex = ctx.lex
    return bool(DOSE_RE.search(clause) or any(lex.regex(k).search(clause) for k in
                                                ("medications", "products", "conditions", "body_areas", "procedures",
                                                 "clinical_objects")))


@detector("advice")
def _advice(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    for s in ctx.a.sentences:
        for start, end, ev in _advice_hits(ctx, s):
            yield Hit(start, end, ev.strip(), pattern="imperative or clearance with a clinical object")


OUR_OFFERING_RE = re.compile(r"\b(?:our|we (?:offer|provide|carry|do)|we don'?t (?:offer|provide|carry|do|bill [\w ]{0,25}? for)|"
                             r"we(?:'re| are)? (?:now |also )?(?:started |began |start |begin )?(?:offer|offering|providing|carrying)|"
                             r"we(?:'ve| have)? (?:just )?added|(?:talk|class|seminar|workshop|webinar|demo|lecture|q&a) (?:on|about))"
                             r"\s+(?:[\w-]+[\s(,:]+(?:and\s+|or\s+)?){0,3}$", re.I)
# the last word of a practice's name ("Ruxton Plastic Surgery", "Front Range Plastic Surgery: (303) ...")
PRACTICE_NOUNS = ("Surgery", "Dental", "Dentistry", "Dermatology", "Chiropractic", "Vision", "Optometry", "Therapy", "PT",
                  "Clinic", "Lounge", "Spa", "Medical", "Wellness", "Health", "Labs?", "Hydration", "Aesthetics", "Associates")
PRACTICE_NOUN_RE = re.compile(rf"(?:{'|'.join(PRACTICE_NOUNS)}|Surgical|Institute|Center)\b")


def in_practice_name(text: str, start: int, end: int) -> bool:
    """The word is part of a capitalized practice name ("Ruxton Plastic Surgery", "Leaner Life Medical Weight Loss")."""
    if not text[start:start + 1].isupper():
        return False
    before = re.search(r"(?:\b[A-Z][\w&'’.-]*\s+){1,4}$", text[max(0, start - 60):start])
    after = re.match(r"(?:\s+[A-Z][\w&'’.-]*){0,4}", text[end:end + 60])
    run = (before.group(0) if before else "") + text[start:end] + (after.group(0) if after else "")
    return bool(before or after and after.group(0)) and bool(PRACTICE_NOUN_RE.search(run))


# an indefinite noun phrase names a kind of thing ("a mole that changes shape needs to be checked"), unless the
# sentence has already spoken of the person ("You came in for a lip flip", "you have a bruise")
INDEFINITE_BEFORE = re.compile(r"\b(?:a|an|any)\s+(?:[a-z-]+\s+)?$", re.I)
YOU_RE = re.compile(r"\b(?:you|your|you're|you've|u|ur)\b", re.I)
CONDITIONAL_YOU_RE = re.compile(r"^(?:(?!\byour?\b).)*\b(?:if|whether|when|whenever|in case)\s+you(?:'re| are| have| ever| need| want| get)?\b"
                                r"(?:(?!\byour\b)[^,;])*$", re.I)  # the only "you" before the term is the one in an "if you ..." clause


@detector("personal_treatment")
def _personal_treatment(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Treatment terms in sentences about the person; `echo: true` only those the reviewer wrote first."""
    want_echo = rule.params.get("echo")
    owned_labels = set(rule.params.get("owned_labels", ["MEDICATION", "BODY_AREA"]))
    for t in _dedupe_terms(ctx, ("PROCEDURE", "PRODUCT", "MEDICATION", "CONDITION", "BODY_AREA")):
        s = ctx.a.sentence_at(t.start)
        if s is None or not personal(ctx, s) or _education_in_answer(ctx, s):
            continue
        if ctx.a.reviewer_prospect and not YOU_RE.search(ctx.a.text[s.start:t.start]):
            continue  # to someone not treated here, a treatment named before any "you" is what the practice does
        if INDEFINITE_BEFORE.search(ctx.a.text[max(0, t.start - 30):t.start]) and not (
                YOU_RE.search(ctx.a.text[s.start:t.start]) and not (
                    "hypotheticals" in ctx.switches and CONDITIONAL_YOU_RE.search(ctx.a.text[s.start:t.start]))):
            continue  # "a mole that changes shape", "any filler", "if you're recovering from an injury": a kind of thing
        if "practice_names" in ctx.switches and in_practice_name(ctx.a.text, t.start, t.end):
            continue  # "the Ruxton Plastic Surgery team"
        if "practice_offerings" in ctx.switches and OUR_OFFERING_RE.search(ctx.a.text[max(0, t.start - 40):t.start]) and not (
                s.has_2p or persons_between(ctx, s.start, s.end)):
            continue  # "Our drips are prepared by registered nurses": what the practice offers, said to no one
        echo = t.text.lower() in ctx.a.reply_terms or any(w in ctx.a.reply_terms for w in t.text.lower().split())
        if t.label in owned_labels and not _owned(ctx, t.start, t.end):
            pointed = re.search(r"\b(?:that|those|this|these)\s+(?:[\w-]+\s+)?$", ctx.a.text[max(0, t.start - 25):t.start], re.I)
            if not (t.label == "BODY_AREA" and echo and (s.has_2p or pointed)):
                continue
        if bool(want_echo) != echo:
            continue
        yield Hit(t.start, t.end, t.text, pattern=t.label.lower(), score=t.score,
                  detail={"term_type": t.label.lower(), "echoes_review": echo})


def third_party_patients(ctx: Ctx) -> list[Person]:
    """Named people (not staff, not the addressee) described as receiving care."""
    def compute() -> list[Person]:
        out = []
        sents = ctx.a.sentences
        for p in ctx.a.persons:
            idx = ctx.a.sentence_index(p.start)
            if idx is None:
                continue
            s = sents[idx]
            if p.role == "staff" and "staff_clients" in ctx.switches and _staff_receives_care(ctx, p, s):
                out.append(p)  # a staff name is no immunity when the text says she received care
                continue
            if "registry_clients" in ctx.switches and _registry_client_outside_authorization(ctx, p):
                out.append(p)  # the registry lists the practice's clients: naming one where she did not consent
                continue
            if p.role not in ("third_party", "unknown") or _authorized_in_comment(ctx, p) or _not_a_client(ctx, p, s):
                continue
            if "message_people" in ctx.switches and _not_a_message_patient(ctx, p):
                continue
            to = recipient(ctx) if "one_to_one" in ctx.switches else None
            if to and re.sub(r"^(?:mr|mrs|ms|miss|sra|sr|dr)\.?\s+", "", p.text, flags=re.I).split()[:1] == [to]:
                continue  # the person the message is written to
            window = s.text + (" " + sents[idx + 1].text if idx + 1 < len(sents) else "")
            if "patient_context" in ctx.switches and ctx.lex.regex("patient_context").search(window) and (
                    _care_context(ctx, window)) or "care_verbs" in ctx.switches and re.search(CARE_VERB_RE, window, re.I):
                out.append(p)
                continue
            if p.kind == "handle" and ctx.item.kind in ("post", "message") or p.attribution or re.search(PATIENT_CONTEXT, window, re.I) and (
                    ctx.lex.regex("procedures").search(window) or ctx.lex.regex("products").search(window)
                    or re.search(r"\b(client|patient|with us|booked|appointment|session|package|visit|review|shout ?out|"
                                 r"thank(?:s| you)(?: so much)? to|congrat\w*|birthday|journey|story|results|glow-up|"
                                 r"before|after|transformation|lost \d+|down \d+|referr\w+|family)\b", window, re.I)) or p.role == "third_party" and ctx.lex.regex("procedures").search(window):
                out.append(p)
        return out
    return _memo(ctx, "third_party", compute)


DEIDENTIFIED_RE = re.compile(r"\b(?:not an? (?:real|actual) (?:client|patient|person)|composite|illustrat(?:ed|ion)|ai[- ]generated|"
                             r"identifying details (?:have been |were )?removed|name withheld|does not describe any (?:single|one|real)|"
                             r"stock (?:photo|image)|model,? not a (?:client|patient))\b", re.I)
NOT_CLIENT_RE = re.compile(r"\b(?:giveaway|raffle|contest|sweepstakes|drawing|not an? (?:patient|client))\b|\bfor (?:the )?(?:catering|photograph\w*|hosting|sponsoring|"
                           r"the music|music|flowers|the cake|the venue|capturing|donating|partnering|dj\w*|having us|inviting us|hosting us)\b|"
                           r"\bpor (?:el|la|los|las) (?:café|comida|catering|música|flores|pastel|postres|fotos|donación)\b|"
                           r"\bpor (?:patrocinar|organizar|invitarnos|recibirnos|donar)\b|"
                           r"\b(?:photographer|caterer|florist|sponsor|dj|vendor|partner|chef)\s+(?-i:[A-Z])", re.I)


NOT_TREATED_RE = re.compile(r"\b(?:wasn'?t|was not|isn'?t|is not|never|weren'?t|were not)\s+(?:treated|a (?:patient|client)|our (?:patient|client))\b", re.I)


ORG_WORDS_RE = re.compile(r"\b(?:Aesthetics|Therapy|Physical|Dental|Dentistry|Dermatology|Clinic|Spa|Lounge|Chiropractic|Medical|"
                          r"Wellness|Health|Vision|Eye Care|Orthodontics|Family|Street|Laser|Skin|Institute|Center|Centre|Labs?)\b")
MINOR_CONTEXT_RE = re.compile(r"\bparent(?: or |/)guardian\b|\bbaby (?:teeth|tooth|canines?|molars?)\b|\b\d+-year molars\b|\bat recess\b|"
                              r"\b(?:normal|common|typical) (?:at|for) (?:age )?(?:[1-9]|1[0-7])\b|\b(?:since|as|because) (?:she|he|(?-i:[A-Z][a-z]+))(?:'s| is) (?:[1-9]|1[0-7])\b|"
                              r"\bafter school\b|\b(?:her|his) (?:school|teacher|class(?:room)?|coach)\b", re.I)
MINOR_AFTER_RE = re.compile(r"^\W{0,3}\(?\s*(?:age[sd]?\s*)?(?:[1-9]|1[0-7])\s*(?:years?|yrs?|años|y/?o)?\s*\)")


def _not_a_message_patient(ctx: Ctx, p: Person) -> bool:
    """Words NER took for a person in a message: lower-case fragments, practice names ("Northgate Physical"),
    and a minor told to a parent ("Lily (age 7)"). Needs `enables: [message_people]`."""
    t = ctx.a.text
    if p.kind == "name" and (not p.text[:1].isalpha() or not any(w[:1].isupper() for w in p.text.split())):
        return True
    if ORG_WORDS_RE.search(p.text + t[p.end:p.end + 25].split("\n")[0][:25]):
        return True
    if "minors" in ctx.switches and ctx.item.kind == "message" and (
            MINOR_AFTER_RE.search(t[p.end:p.end + 20]) or _memo(ctx, "minor_context", lambda: bool(MINOR_CONTEXT_RE.search(t)))):
        return True  # "the parent or guardian of Lucas Moreno (age 9)", "since she's 15, a parent needs to be present"
    first = p.text.split()[0] if p.text.split() else ""
    if re.fullmatch(r"\w+", first):  # the words followed by a child's age are found once per item (linear time)
        return first in _memo(ctx, "minor_words", lambda: {m.group(0) for m in re.finditer(r"\w+", t)
                                                           if MINOR_AFTER_RE.search(t[m.end():m.end() + 20])})
    first = re.escape(first)
    return bool(first) and any(MINOR_AFTER_RE.search(t[m.end():m.end() + 20]) for m in re.finditer(rf"\b{first}\b", t))


CARE_VERB_RE = (r"\b(?:is being|was|were|been|got|gets|is|are) (?:treated|seen|booked|scheduled)\b|\b(?:saw|treated|injected) (?:him|her|them)\b|"
                r"\bwas (?:at|in) (?:our|the)\b|\bis in with\b|\bcame back (?:benign|negative|positive|normal|clear)\b|\bgot (?:drips|extra|a|an|her|his)\b|"
                r"\b(?:started|finished|chose|cancell?ed|comes in|came in)\b|\bbeen (?:seeing us|coming (?:in|here|to us))\b|\bfor (?:her|his) (?:[\w-]+ )?(?:appointment|visit|session|treatment)\b")


def _not_a_client(ctx: Ctx, p: Person, s: Sentence) -> bool:
    """Marketing words that are not a client: a heading ("Case Study | ..."), a giveaway winner, a vendor, or any
    person in a post that says it is a composite or de-identified. Needs `enables: [not_people]`."""
    if "not_people" not in ctx.switches or not _marketing(ctx):
        return False
    t = ctx.a.text
    nxt = ctx.a.sentence_at(s.end + 1) if s.end < len(t) else None  # "Big thanks to model Sierra! Sierra wasn't treated"
    said_not_client = bool(NOT_CLIENT_RE.search(s.text) or nxt is not None and NOT_TREATED_RE.search(nxt.text))
    if p.kind == "handle":
        return said_not_client
    line_start = t.rfind("\n", 0, p.start) + 1
    heading = not t[line_start:p.start].strip() and re.match(r"[\w\s&'’-]{0,25}[|:]", t[p.end:p.end + 30])
    return bool(heading or said_not_client or _memo(ctx, "deidentified", lambda: bool(DEIDENTIFIED_RE.search(t))))


def _comment_registry_decision(ctx: Ctx, text: str, person: Person | None = None) -> Any | None:
    """The authorization decision for the one registry client `text` names by full name, alias or handle in a
    comment (None when it names nobody in the registry, or only by a first name, or ambiguously)."""
    if ctx.item.kind != "comment" or ctx.registry is None:
        return None
    for m in ctx.registry.find_in_text(text):
        if m.matched_by != "first_name" and len(m.patient_ids) == 1:
            return ctx.registry.check(list(m.patient_ids), content_purposes(ctx, person), ctx.item.channel, ctx.as_of)
    return None


def _registry_client_outside_authorization(ctx: Ctx, p: Person) -> bool:
    """A comment names a registry client on a channel or for a use her authorization does not cover (convention 6:
    only a comment within what she authorized is part of the marketing use). Needs `enables: [registry_clients]`."""
    d = _comment_registry_decision(ctx, ctx.a.text[p.start:p.end], p)
    return d is not None and not d.ok


FEATURE_TALK_RE = re.compile(r"\b(?:shar\w*|featur\w*|post\w*|story|stories|spotlight|journey|before (?:&|and) after|"
                             r"letting us|let us|testimonial|video|reel|photos?|pics?)\b", re.I)
CARE_INSTRUCTION_RE = re.compile(r"\b(?:ice|compress|massage|avoid|skip|take|apply|sleep|go easy|hold off|stop|start|"
                                 r"swelling|bruis\w*|puff\w*|dose|units?|syringes?|next (?:visit|appointment|session))\b", re.I)


def featured_commenter(ctx: Ctx) -> bool:
    """A comment answering the registry client it is about, on a channel and for the uses she authorized ("you're
    glowing, Cami! Thank you for letting us share your journey" under her own feature): part of that marketing
    use (convention 6), so what it says about her is permitted. Needs `enables: [registry_clients]`."""
    if "registry_clients" not in ctx.switches or ctx.item.kind != "comment" or not (ctx.item.author or "").strip():
        return False
    d = _comment_registry_decision(ctx, ctx.item.author or "")
    if d is None or not d.ok or not FEATURE_TALK_RE.search(ctx.a.text) or CARE_INSTRUCTION_RE.search(ctx.a.text):
        return False  # about the feature ("thank you for letting us share"), not new care details or instructions
    others = [p for p in ctx.a.persons if p.role in ("third_party", "unknown")
              and _comment_registry_decision(ctx, ctx.a.text[p.start:p.end], p) is None]
    return not others


def _authorized_in_comment(ctx: Ctx, p: Person) -> bool:
    """A comment under the spa's marketing that stays within what the featured client authorized for this
    channel is part of that marketing use (corpus convention 6). Needs `enables: [comment_authorization]`."""
    if "comment_authorization" not in ctx.switches:
        return False
    d = _comment_registry_decision(ctx, ctx.a.text[p.start:p.end], p)
    return d is not None and bool(d.ok)


STAFF_CARE_RE = (r"\b(?:her|his|their) own\b|\b(?:got|had|tried|did|received|booked)\s+(?:one|it|some|them)\s+(?:herself|himself|themselves)\b|\b(?:got|had|gets|received|tried|did|finished|started|treated)\s+(?:her|his|their)\s+"
                 r"(?:first\s+|own\s+|last\s+|latest\s+)?(?:[\w-]+\s+){{0,2}}?(?:{care})\b|\b(?:treated|injected|treating)\s+our own\b|"
                 r"\b(?:sat|was|is|hopped) in (?:the|my|her|his|our) chair\b|['’]s (?:own )?(?:results|transformation|glow-up|journey|"
                 r"before (?:and|&) after|treatment|session)\b|\b(?:on|in) (?:the |our )?(?:treatment )?(?:table|chair)\b|"
                 r"\b(?:tried|got|had|received)\s+(?:a |an |some |our |the |her first |his first |their first )?(?:{treatments})\b")


def _staff_receives_care(ctx: Ctx, p: Person, s: Sentence) -> bool:
    """A staff member described as receiving care in her own sentence ("our injector Maya got her lips done")."""
    rest = ctx.a.text[p.start:s.end]
    m = ctx.lex.built("staff_care", lambda lex: STAFF_CARE_RE.format(
        care=_care_alternation(lex), treatments="|".join(lex.alternation(k) for k in ("procedures", "products")))).search(rest)
    if m and not ("authorized_uses" in ctx.switches and m.group(0).lower().startswith("treated ")):
        return True  # (with `authorized_uses`, "Paloma treated his glabella" is Paloma giving care, not receiving it)
    if "staff_longtime_client" in ctx.switches:
        nxt = ctx.a.sentence_at(s.end + 1) if s.end < len(ctx.a.text) else None
        first = p.text.split()[-1] if p.text.split() else ""
        if nxt is not None and nxt.start > s.start and (re.search(rf"\b{re.escape(first)}\b", nxt.text)
                                                        or re.match(r"\W*(?:she|he|they)\b", nxt.text, re.I)):
            rest = ctx.a.text[p.start:nxt.end]  # "Meet Brooke, our esthetician! Brooke ... has been getting Botox"
        if ctx.lex.built("staff_longtime", lambda lex: STAFF_LONGTIME_RE.format(care=_care_alternation(lex))).search(rest):
            return True
    if "staff_care_more" not in ctx.switches:
        return False
    more = ctx.lex.built("staff_care_more", lambda lex: STAFF_CARE_MORE_RE.format(care=_care_alternation(lex)))
    quote = ctx.a.text[max(0, p.start - 300):p.start] if p.attribution else ""
    return bool(more.search(rest) or quote and re.search(rf"\bmy\s+(?:[\w-]+\s+)?(?:{ctx.lex.alternation('products')}|"
                                                          rf"{ctx.lex.alternation('procedures')})", quote, re.I))


def _care_alternation(lex: Lexicon) -> str:
    return "|".join(lex.alternation(k) for k in ("procedures", "products", "body_areas", "visit_nouns"))


# more ways to say a staff member received care ("wrapped his 6th round of", "getting her first facial")
STAFF_CARE_MORE_RE = (r"\b(?:wrapped|completed|booked|getting|gets|tries|trying|loves)\s+(?:up\s+)?(?:her|his|their)\s+"
                      r"(?:[\w-]+\s+){{0,4}}?(?:{care})\b|\b(?:does|did|doing)\s+(?:my|her|his)\s+(?:[\w-]+\s+){{0,2}}?(?:{care})\b|"
                      r"\b(?:she|he)(?:'s| is| became| has become) (?:a |our )?(?:client|patient) too\b")


STAFF_LONGTIME_RE = (r"\b(?:she|he|they)(?:'s| is| has| have|'ve)? been (?:getting|doing|having|coming in for|on)\s+(?:[\w-]+\s+){{0,3}}?(?:{care})\b|"
                     r"['’]s been (?:getting|doing|having|on)\s+(?:[\w-]+\s+){{0,3}}?(?:{care})\b|"
                     r"\b(?:and|&|also|plus)\s+(?:a|an|one of our)\s+(?:(?-i:[A-Z])[\w&'’-]*\s+)?(?:most\s+)?(?:loyal\s+|longtime\s+|favou?rite\s+|regular\s+)?(?:clients?|patients?)\b")


PATIENT_CONTEXT = (r"\b(?:she|he|her|his|they|their)\b|['’]s\s+\w+|\b(?:client|patient)\b|\bthank(?:s| you)(?: so much)? (?:to|for)\b|"
                   r"\bshout ?out\b|\bcongrat\w*\b|\bbirthday\b|\bwho\b|\bjust\b|\bjourney\b|\bcase study\b|\bstory\b|\bfriend\b|"
                   r"\breferr\w+\b|\bwife\b|\bhusband\b|\bappointments?\b|\bschedule\b|\b\d{1,2}:\d\d\b")


@detector("third_party")
def _third_party(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Someone other than the addressee or recipient, named with their care."""
    if _marketing(ctx):
        return  # marketing features are judged by the registry rules
    for p in third_party_patients(ctx):
        yield Hit(p.start, p.end, p.text, pattern=f"{p.kind} with care details")


PRONOUN_CLIENT_RE = re.compile(
    r"\b(?:she|he)(?:'s| is| has been|'s been| was)\s+(?:a |an |one of our |our )?(?:regular|client|patient|favou?rite|vip|loyal)\b|"
    r"\b(?:doing|done|treating|treated|injecting)\s+(?:her|his)\s+[\w-]+(?:\s+[\w-]+)?\s+(?:with|for|here)\b|"
    r"\b(?:her|his)\s+(?:[\w-]+\s+)?(?:appointment|session|treatment|visit|package|results)\s+(?:with us|here|is|was)\b", re.I)


def pronoun_clients(ctx: Ctx) -> list[Hit]:
    """Unnamed third persons described as clients ("she's a regular, been doing her lips with us")."""
    if ctx.item.kind not in ("reply", "comment"):
        return []
    return _memo(ctx, "pronoun_clients", lambda: [Hit(m.start(), m.end(), m.group(0), pattern="third person as client")
                                                  for m in PRONOUN_CLIENT_RE.finditer(ctx.a.text)])


@detector("third_party_care")
def _third_party_care(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """What a reply or one-to-one message says about someone else's care: that they are a client, what they had."""
    if _marketing(ctx):
        return
    people = third_party_patients(ctx)
    pronouns = pronoun_clients(ctx)
    if not people and not pronouns:
        return
    if rule.params.get("what") == "client":
        if people:
            yield Hit(people[0].start, people[0].end, people[0].text, pattern="third party described as a client")
        else:
            yield Hit(pronouns[0].start, pronouns[0].end, pronouns[0].evidence, pattern="third party described as a client")
        return
    sents = ctx.a.sentences
    near: set[int] = set()  # the sentence of each person and the one after it
    for start in [p.start for p in people] + [h.start or 0 for h in pronouns]:
        i = ctx.a.sentence_index(start)
        if i is not None:
            near |= {i, i + 1}
    for t in _dedupe_terms(ctx, ("PROCEDURE", "PRODUCT", "MEDICATION", "CONDITION", "BODY_AREA")):
        j = ctx.a.sentence_index(t.start)
        if j in near and sents[j].start <= t.start < sents[j].end:
            yield Hit(t.start, t.end, t.text, pattern=t.label.lower(), score=t.score)


@detector("staff_client")
def _staff_client(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """A staff member the text describes as receiving care (needs `enables: [staff_clients]`)."""
    for p in third_party_patients(ctx):
        if p.role == "staff":
            yield Hit(p.start, p.end, p.text, pattern="staff member described as receiving care")


@detector("addressed_client")
def _addressed_client(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Marketing that speaks to a named person about her own care, without an authorization covering it."""
    starts = {p.start for p in addressed_clients(ctx)}
    for f, _d in unauthorized_features(ctx):
        if f.start in starts:
            yield Hit(f.start, f.end, f.text, pattern="marketing addressed to a named client")


@detector("marketing_advice")
def _marketing_advice(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Clinical instructions inside marketing, in the sentences about one person it names, describes or answers."""
    if not _marketing(ctx):
        return
    t = ctx.a.text
    targets = [p.start for p in ctx.a.persons if p.role in ("unknown", "third_party") and "vocative" in p.reasons]
    targets += [h.start or 0 for h in described_clients(ctx)]
    targets += [m.start() for m in re.finditer(r"\b(?:you said|you mentioned|you told us|replying to)\b", t, re.I)]
    targets += [m.start() for rx in rule.params.get("_targets", []) for m in rx.finditer(t)]
    near: set[int] = set()
    for start in targets:
        i = ctx.a.sentence_index(start)
        if i is not None:
            near |= {i, i + 1}
    for i in sorted(near):
        if i >= len(ctx.a.sentences):
            continue
        s = ctx.a.sentences[i]
        hits = [(a, b, ev) for a, b, ev in _advice_hits(ctx, s)]
        hits += [(s.start + m.start(), s.start + m.end(), m.group(0)) for rx in rule.params["_compiled"] for m in rx.finditer(s.text)]
        for a, b, ev in hits:
            yield Hit(a, b, ev.strip(), pattern="instruction to one person inside marketing")


@detector("addressee_name")
def _addressee_name(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    for p in ctx.a.persons:
        if p.role == "addressee":
            yield Hit(p.start, p.end, p.text, pattern=f"{p.kind} of the person replied to")


WEEKDAY_RANGE_AFTER = re.compile(r"\s*(?:through|thru|to|[-–]|and|&)\s*(?:mon|tue|wed|thu|fri|sat|sun)", re.I)
WEEKDAY_RANGE_BEFORE = re.compile(r"(?:mon|tue|wed|thu|fri|sat|sun)\w*\.?\s*(?:through|thru|to|[-–]|and|&)\s*$", re.I)


@detector("visit_date")
def _visit_date(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """An absolute date or weekday tied to someone's visit in a sentence about them."""
    visit = ctx.lex.regex("visit_nouns")
    dates = ctx.a.spans("VISIT_DATE")
    if dates and ctx.item.kind == "message" and not any(p.role == "third_party" for p in third_party_patients(ctx)):
        return  # the recipient's own appointment, told to them
    for d in dates:
        s = ctx.a.sentence_at(d.start)
        if s is None or not s.start <= d.start < s.end or not personal(ctx, s):
            continue
        if WEEKDAY_RANGE_AFTER.match(ctx.a.text, d.end) or WEEKDAY_RANGE_BEFORE.search(ctx.a.text[max(0, d.start - 20):d.start]):
            continue  # "Monday through Friday 9-5": opening hours, nobody's visit
        if visit.search(s.text) or re.search(r"\b(treated|seen|came in|see you|since|client|patient|documented)\b",
                                             s.text, re.I):
            yield Hit(d.start, d.end, d.text, pattern="visit date", score=d.score)


BUSINESS_LINE_RE = re.compile(  # a number offered as a business line: a call to action or a practice name just before it
    r"(?:\b(?:call|text|book|booking|appointments?|appts?|consults?|questions|info|schedule|reschedule|llámenos|llámanos|"
    r"llame|llama|escríbanos|al|tel|phone|ph)\b\W{0,3}(?:us\W{0,3})?(?:at\W{0,3}|al\W{0,3})?|(?-i:[A-Z][\w&'’]+\s+)"
    rf"(?:{'|'.join(PRACTICE_NOUNS)}|iv)\W{{0,3}})$", re.I)
# what makes a number someone's own line ("her cell", "his mobile"), whatever is said before it
OWN_LINE_RE = re.compile(r"\b(her|his|their|cell|mobile|home)\b", re.I)


@detector("contact_data")
def _contact(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Phone numbers and e-mail addresses that are not the spa's own."""
    own_digits = {re.sub(r"\D", "", p)[-10:] for p in ctx.profile.phones}
    for e in ctx.a.spans("PHONE_NUMBER", "EMAIL_ADDRESS"):
        before = ctx.a.text[max(0, e.start - 45):e.start].lower()
        digits = re.sub(r"\D", "", e.text)[-10:]
        if e.label == "PHONE_NUMBER" and (digits in own_digits or e.score < 0.4):
            continue
        spa_context = re.search(r"(call|text|reach|contact|rsvp|book|dm|email|e-mail|message|visit|at|or|us|phone|number)"
                                r"\W*(?:us\W*)?(?:at\W*)?(?:\(|$)", before)
        names_someone = re.search(r"\b(her|his|their|your|cell|mobile|home)\b", before[-25:], re.I) or any(
            p.role not in ("spa", "staff", "recipient", "celebrity") for p in persons_between(ctx, e.start - 45, e.start))
        if spa_context and not names_someone:
            continue
        if "business_phone_cta" in ctx.switches and e.label == "PHONE_NUMBER" and BUSINESS_LINE_RE.search(
                ctx.a.text[max(0, e.start - 45):e.start]) and not OWN_LINE_RE.search(before[-25:]):
            continue  # "Book: 303-555-0109", "Llámenos al ...", "Consults at Front Range Plastic Surgery: ..."
        if "business_phones" in ctx.switches and e.label == "PHONE_NUMBER" and not OWN_LINE_RE.search(before[-25:]) and (
                ORG_WORDS_RE.search(ctx.a.text[max(0, e.start - 60):e.start])
                or re.match(r"\s*[A-Z][\w&'’ ]{2,40}:", ctx.a.text) and not ctx.a.text[e.end:].strip(" .!)\n")):
            continue  # the sending practice's own number ("Northgate PT: ... 503-555-0164")
        if any(d in e.text.lower() for d in [*ctx.profile.domains, *ctx.profile.emails]):
            continue
        yield Hit(e.start, e.end, e.text, pattern=e.label.lower(), score=e.score)


@detector("strong_id")
def _strong(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    for e in ctx.a.entities:
        if e.label in STRONG_IDS and e.score >= 0.5:
            yield Hit(e.start, e.end, e.text, pattern=e.label.lower(), score=e.score)


def described_clients(ctx: Ctx) -> list[Hit]:
    return _memo(ctx, "described", lambda: list(_described_hits(ctx)))


@detector("described_client")
def _described(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Descriptions of a client; in marketing, not those a valid authorization covers (convention 5)."""
    allowed = [(f.start or 0, f.end or 0) for f, d in feature_decisions(ctx) if d is not None and d.ok] if _marketing(ctx) else []
    for h in described_clients(ctx):
        if not any(a < (h.end or 0) and (h.start or 0) < b for a, b in allowed):
            yield h


def _described_hits(ctx: Ctx) -> Iterator[Hit]:
    """A specific client described by details that together can identify them."""
    if "not_people" in ctx.switches and DEIDENTIFIED_RE.search(ctx.a.text):
        return  # "composite, not a real client": the description is of nobody
    for e in ctx.a.spans("INITIALS_WITH_DETAILS"):
        yield Hit(e.start, e.end, e.text, pattern="initials with age or details", score=e.score)
    occ = ctx.lex.alternation("occupations")
    rx = re.compile(
        rf"\b(?:our|a|one)\s+(?:\d{{1,2}}(?::\d\d)?\s?(?:am|pm)|morning|afternoon|evening|last|first|newest|latest|"
        rf"favorite|longtime|oldest|youngest|\d{{2}}-year-old)\s+(?:[\w-]+\s+){{0,2}}?(?:client|patient|appointment)\b[^.!?]{{0,80}}?"
        rf"(?:\b(?:{occ})\b|\b\d{{2}}-year-old\b|\bfrom [A-Z]\w+|\bthis morning\b|\byesterday\b|\btoday\b)", re.I)
    for m in rx.finditer(ctx.a.text):
        yield Hit(m.start(), m.end(), m.group(0), pattern="client described by quasi-identifiers")
    for rx in ctx.describe:  # rule-supplied descriptions ("the mayor's sister"), only beside care
        for m in rx.finditer(ctx.a.text):
            s = ctx.a.sentence_at(m.start())
            if s is not None and _care_context(ctx, s.text):
                yield Hit(m.start(), m.end(), m.group(0), pattern="person described without a name")


CARE_WORDS_RE = re.compile(r"\b(?:client|patient|appointment|session|treat(?:ed|ing|ment)|visit|came in|in (?:her|his|my|our) chair|"
                           r"results|glow-up|transformation|journey)\b|"
                           r"\b(?:got|had|gets|getting|having)\s+(?:her|his|their|my)\s+(?:[\w-]+\s+){0,2}?done\b", re.I)


def _care_context(ctx: Ctx, text: str) -> bool:
    """The text speaks of care: a treatment term, a visit word, or a client word (English or the lexicon's)."""
    return bool(CARE_WORDS_RE.search(text) or ctx.lex.regex("patient_context").search(text) or any(
        ctx.lex.regex(k).search(text) for k in ("procedures", "products", "medications", "conditions")))


@detector("implied_client")
def _implied(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Treating someone's treatment as fact confirms they are a client (unless they are a prospect)."""
    if ctx.a.reviewer_prospect:
        return
    yield Hit(None, None, "the reply discusses the reviewer's own treatment as fact",
              pattern="treatment disclosure implies relationship")


# -- marketing features and the registry --------------------------------------------------------
@dataclass
class Feature:
    start: int | None
    end: int | None
    text: str
    patient_ids: tuple[str, ...]
    purposes: set[str]
    source: str  # text | image:<name>
    matched_by: str


def _quote_re(opening: str, closing: str, between: str = "") -> re.Pattern[str]:
    """A quote of 8+ characters followed by a dash and its attribution ("'Love it!' — Jo")."""
    return re.compile(rf"[{opening}][^{closing}]{{8,2000}}[{closing}]\s*{between}(?:[—–~-]|--)\s*@?[A-Z]")


BEFORE_AFTER_RE = re.compile(r"\bbefore\s*(?:&|and|/|\+|vs\.?)\s*after\b|\bweek \d+ vs\.? week \d+\b|\bswipe\b|"
                             r"\bresults? (?:are|is) in\b|\btransformation\b|\bglow[- ]up\b", re.I)
CASE_STUDY_RE = re.compile(r"\bcase stud(?:y|ies)\b", re.I)
STORY_RE = re.compile(r"\bcase (?:example|report)\b|\bstory ?time\b|\b(?:her|his|their|a client's|a patient's) "
                      r"(?:story|journey)\b|\bclinical spotlight\b|\bfull write-?up\b", re.I)
QUOTE_RE = _quote_re("\"“‘'", "\"”’'")
# with `stories`: guillemets, and an emoji or two between the quote and its dash ("«...» 💚 — Ximena B.")
STORY_QUOTE_RE = _quote_re("\"“‘'«„", "\"”’'»“", r"(?:[^\w\s—–~-]{1,3}\s*)?")


SHOUT_OUT_RE = re.compile(r"\bshout[- ]?outs?\b|\bclient (?:of the (?:month|week|year)|crush|spotlight)\b", re.I)


def worded_purposes(text: str, stories: bool = False) -> set[str]:
    """The marketing uses the wording itself shows (before/after, case study, testimonial); with `stories`
    (`enables: [authorized_uses]`) a story in words is a case study and an emoji may sit between a quote and
    its attribution."""
    purposes = set()
    if BEFORE_AFTER_RE.search(text):
        purposes.add("before_after_photos")
    if CASE_STUDY_RE.search(text) or stories and STORY_RE.search(text):
        purposes.add("case_study")  # a written treatment story (convention 4)
    if QUOTE_RE.search(text) or re.search(r"\bsays\b", text) or stories and STORY_QUOTE_RE.search(text):
        purposes.add("testimonial")
    if purposes and SHOUT_OUT_RE.search(text):
        purposes.add("name_in_marketing")  # a shout-out is a use of its own beside the quote or photo (convention 4)
    return purposes


def content_purposes(ctx: Ctx, person: Any | None = None) -> set[str]:
    """The uses a marketing item makes of a person it names: what the wording shows (name_in_marketing when
    nothing more), plus before/after photos when pictures are attached. A picture adds a use; it never
    replaces what the text does (a named post with any image attached still needs name_in_marketing)."""
    purposes = set(_memo(ctx, "worded_purposes", lambda: worded_purposes(ctx.a.text, "authorized_uses" in ctx.switches)))
    if person is not None and getattr(person, "attribution", False):
        purposes.add("testimonial")
    purposes = purposes or {"name_in_marketing"}
    if ctx.item.images:
        purposes.add("before_after_photos")
    return purposes


def features(ctx: Ctx) -> list[Feature]:
    """People a marketing item names, quotes, tags or pictures."""
    def compute() -> list[Feature]:
        out: list[Feature] = []
        covered: set[int] = set()  # character positions (sets keep the look-ups linear in the text)
        reg = ctx.registry
        cared = {id(p) for p in third_party_patients(ctx)}  # staff described as receiving care are clients too
        excluded = {i for p in ctx.a.persons if p.role in ("staff", "spa", "celebrity", "recipient")
                    and id(p) not in cared for i in range(p.start, p.end)}
        longest = max((p.end - p.start for p in ctx.a.persons), default=0)
        named_at: dict[int, Any] = {}  # registry names by start, to link a description that opens with one
        if reg is not None:
            for m in reg.find_in_text(ctx.a.text):
                named_at.setdefault(m.start, m)
                if m.start in excluded:
                    continue
                person = next((p for p in persons_between(ctx, m.start - longest, m.end) if m.start < p.end), None)
                if m.matched_by == "first_name" and person is None and not re.search(
                        PATIENT_CONTEXT, ctx.a.text[max(0, m.start - 40):m.end + 60], re.I):
                    continue
                out.append(Feature(m.start, m.end, m.text, tuple(m.patient_ids), content_purposes(ctx, person),
                                   "text", m.matched_by))
                covered.update(range(m.start, m.end))
            for img in ctx.item.images:
                name = Path(img).name
                for m in reg.find_in_filename(name):
                    out.append(Feature(None, None, name, tuple(m.patient_ids), {"before_after_photos"},
                                       f"image:{name}", "filename"))
        for p in [*third_party_patients(ctx), *addressed_clients(ctx)]:
            if not covered.isdisjoint(range(p.start, p.end)):
                continue
            out.append(Feature(p.start, p.end, p.text, (), content_purposes(ctx, p), "text", p.kind))
            covered.update(range(p.start, p.end))
        for h in described_clients(ctx):
            appositive = "authorized_uses" in ctx.switches and not covered.isdisjoint(
                range(max(0, (h.start or 0) - 4), h.start or 0))  # "Greg V., a 52-year-old trial attorney"
            if covered.isdisjoint(range(h.start or 0, h.end or 0)) and not appositive:
                named = named_at.get(h.start or 0)  # "Bethany lost 31 lbs": the description names someone
                out.append(Feature(h.start, h.end, h.evidence, tuple(named.patient_ids) if named else (),
                                   content_purposes(ctx), "text", "description"))
        return out
    return _memo(ctx, "features", compute)


ADDRESSED_CARE_RE = (r"\b(?:your|ur)\s+(?:[\w'-]+\s+){{0,2}}?(?:{care})\b|\bsee you (?:at|for|next|again|back|soon|in)\b|"
                     r"\bthank(?:s| you)(?: so much)? for (?:coming|visiting|trusting|choosing|letting us)\b|\bwelcome back\b|"
                     r"\b(?:loved|love|enjoyed) (?:treating|having|seeing) you\b|\bin (?:her|his|my|our) chair\b")


ADDRESS_BEFORE_RE = (r"(?:^|[\n.!?]\s*)(?:hi|hey|hello|dear|thanks|thank you|thank u|congrats|congratulations|welcome(?: back)?|"
                     r"happy birthday|yay|cheers to|shout ?out to)[,!]?\s*$")


def addressed_clients(ctx: Ctx) -> list[Person]:
    """People a marketing item speaks to by name about their own care ("Thanks Jessica! Your lip filler...")."""
    if "addressed_posts" not in ctx.switches or not _marketing(ctx):
        return []

    def compute() -> list[Person]:
        keys = ("procedures", "products", "body_areas", "visit_nouns") + (
            ("medications", "conditions") if "addressed_meds" in ctx.switches else ())
        care = "|".join(ctx.lex.alternation(k) for k in keys)
        if not re.search(ADDRESSED_CARE_RE.format(care=care), ctx.a.text, re.I):
            return []
        return [p for p in ctx.a.persons if p.role in ("unknown", "third_party", "addressee") and (
            "vocative" in p.reasons or re.search(ADDRESS_BEFORE_RE, ctx.a.text[max(0, p.start - 40):p.start], re.I))]
    return _memo(ctx, "addressed", compute)


def _marketing(ctx: Ctx) -> bool:
    if ctx.item.kind == "post":
        return True
    if ctx.item.kind != "message" or recipient(ctx):
        return False
    # with `enables: [promo_messages]`, a message to nobody in particular is marketing only when it promotes
    # (a wrong-number text, a doctor's note or a public statement discloses; it does not market)
    return "promo_messages" not in ctx.switches or bool(MARKETING_MESSAGE_RE.search(ctx.a.text))


MARKETING_MESSAGE_RE = re.compile(
    r"\b(?:book|sale|offer|special|promo|discount|deal|\d+% off|\$\d+ off|join (?:us|them)|shout-?out|newsletter|"
    r"unsubscribe|stop to|opt out|gift cards?|members?|vip|spotlight|reviewers?|winners?|giveaway|this month|all month|"
    r"intro pricing|new (?:service|device|treatment)|faq|testimonial|story|before (?:and|&) after|descuento|oferta|promoción|"
    r"reserva|agenda|blog|case stud(?:y|ies)|real stories|see how|read (?:her|his|their|the|our)|results|journey|"
    r"transformation)\b|\$\d|\bstop\s*=|msg\s*&\s*data", re.I)


ONE_TO_ONE_RE = re.compile(
    r"(?:^|\n|:\s*)(?:(?i:hi|hello|hey|dear|hola|buenos días|message for|reminder for|happy birthday|congrats|congratulations|"
    r"good news|great news|good morning|good afternoon)[,!]?\s+|^\W{0,3}(?=[A-Z][a-záéíóúñü]+,\s)|"
    r"(?i:thanks?|thank you|welcome)\b[^\n.!?]{0,40}?,\s*|(?i:subject):[^\n]{0,60}?,\s*)"
    r"(?:(?i:mr|mrs|ms|miss|sra|sr|dr|professor|prof)\.?\s+)?(?P<name>[A-ZÁÉÍÓÚÑ][a-záéíóúñü]+)(?:\s+[A-ZÁÉÍÓÚÑ][a-záéíóúñü]+)?\s*(?:[,!:.\n]|[^\w\s]|from\b)")


def recipient(ctx: Ctx) -> str | None:
    """The one person a message is addressed to: the greeting the text analysis found, or (with `enables:
    [one_to_one]`) a name the first lines speak to ("Thanks for coming in, Talia!", "Subject: ..., Noa!")."""
    if ctx.a.greeting_recipient or "one_to_one" not in ctx.switches or ctx.item.kind != "message":
        return ctx.a.greeting_recipient
    if "recipient" not in ctx.cache:
        m = ONE_TO_ONE_RE.search(ctx.a.text[:300])
        name = m.group("name") if m else None
        word = name.lower() if name else ""  # never a word that is no name ("Subject:", "Ladies, ...")
        ctx.cache["recipient"] = name if name and word not in ("reminder", "reply") and word not in NOT_NAMES and (
            word not in ctx.lex.terms("not_names")) else None
    return ctx.cache["recipient"]


def feature_decisions(ctx: Ctx) -> list[tuple[Feature, Any]]:
    def compute() -> list[tuple[Feature, Any]]:
        out = []
        for f in features(ctx):
            if not f.patient_ids:
                out.append((f, None))
                continue
            out.append((f, ctx.registry.check(list(f.patient_ids), f.purposes, ctx.item.channel, ctx.as_of)))
        return out
    return _memo(ctx, "decisions", compute)


COVERED_BY_AUTHORIZATION = frozenset({"patient_identifier", "relationship_confirmation", "treatment_disclosure"})


def fully_authorized(ctx: Ctx) -> bool:
    """Marketing whose every featured person has a valid authorization for this use and channel: the names and
    treatments in it are permitted, whichever rule noticed them (corpus convention 5). Needs
    `enables: [authorized_uses]`."""
    if "authorized_uses" not in ctx.switches or not _marketing(ctx):
        return False
    decisions = feature_decisions(ctx)
    return bool(decisions) and all(d is not None and d.ok for _, d in decisions)


def unauthorized_features(ctx: Ctx) -> list[tuple[Feature, Any]]:
    if not _marketing(ctx):
        return []
    return [(f, d) for f, d in feature_decisions(ctx) if d is None or not d.ok]


@detector("registry_use")
def _registry_use(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Marketing use of a person: authorized (info), not authorized, ambiguous, or no record."""
    if not _marketing(ctx):
        return
    want = rule.params.get("status")
    for f, d in feature_decisions(ctx):
        status = "no_record" if d is None else ("authorized" if d.ok else d.status)
        if want == "authorized" and status != "authorized":
            continue
        if want == "ambiguous" and status != "ambiguous":
            continue
        if want == "no_record" and status != "no_record":
            continue
        if want == "not_authorized" and status in ("authorized", "ambiguous", "no_record"):
            continue
        purposes = ", ".join(sorted(f.purposes))
        msg = f"{rule.message} (use: {purposes}; channel: {ctx.item.channel}"
        msg += f"; registry: {d.status}: {d.detail})" if d is not None else ")"
        yield Hit(f.start, f.end, f.text, pattern=f"featured {f.matched_by}",
                  registry_record=(d.authorization_id or d.patient_id) if d is not None else None, message=msg,
                  detail={"source": f.source, "purposes": sorted(f.purposes), "status": status})


@detector("marketing_identifier")
def _marketing_identifier(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    for f, _d in unauthorized_features(ctx):
        yield Hit(f.start, f.end, f.text, pattern=f"featured {f.matched_by}", detail={"source": f.source})


@detector("marketing_client")
def _marketing_client(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    feats = unauthorized_features(ctx)
    if feats:
        yield Hit(None, None, feats[0][0].text, pattern="marketing presents a person as a client")


@detector("marketing_treatment")
def _marketing_treatment(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    if not unauthorized_features(ctx):
        return
    for t in _dedupe_terms(ctx, ("PROCEDURE", "PRODUCT", "MEDICATION", "CONDITION")):
        yield Hit(t.start, t.end, t.text, pattern=t.label.lower(), score=t.score)


@detector("hidden_characters")
def _hidden_characters(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    """Words in which a character is invisible, shown reversed (bidi override) or a look-alike letter."""
    norm = getattr(ctx.a, "normalized", None)
    if norm is None:
        return
    for h in norm.hidden:
        yield Hit(h.start, h.end, norm.shown(h.start, h.end), pattern="hidden or look-alike characters",
                  message=f"{rule.message} ({'; '.join(h.what)})", detail={"characters": h.what})


@detector("none")
def _none(rule: Rule, ctx: Ctx) -> Iterator[Hit]:
    return iter(())

