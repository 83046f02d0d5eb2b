"""Text analysis: spaCy parses each text once; Presidio (offline, US recognizers plus med-spa
recognizers) runs on that same parse; the result is a `TextAnalysis` every rule reads.

What lives here is recognition (what is in the text: people and their roles, identifiers, treatment
terms, sentences about one person); what is a violation is decided by the rule packs (rules.py).
"""
from __future__ import annotations

import bisect
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # never fetch the suffix list

from ..core import config  # noqa: E402
from ..core.budget import Deadline  # noqa: E402
from ..core.models import Item  # noqa: E402
from .lexicon import LABEL_OF_KEY, TREATMENT_LABELS, Lexicon, load_lexicon, term_regex  # noqa: E402
from .normalize import Normalized, normalize  # noqa: E402

US_RECOGNIZERS = {
    "CreditCardRecognizer", "DateRecognizer", "EmailRecognizer", "IpRecognizer", "MedicalLicenseRecognizer",
    "PhoneRecognizer", "UrlRecognizer", "UsBankRecognizer", "UsItinRecognizer", "UsPassportRecognizer",
    "UsSsnRecognizer", "SpacyRecognizer",
}
PARSE_BATCH = 64  # texts per spaCy minibatch (the parses are the same as one text at a time, and faster)
PARSE_CHARS = 200_000  # ...but fewer when the texts are long, so a minibatch's arrays stay small
PRESIDIO_PART = 4000  # characters of whole sentences Presidio analyses at a time (see _presidio_parts)
STRONG_IDS = {"US_SSN", "CREDIT_CARD", "US_PASSPORT", "US_ITIN", "MEDICAL_LICENSE", "US_BANK_NUMBER"}
VISIT_DATE_RE = (r"\b(?:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?"
                 r"|the \d{1,2}(?:st|nd|rd|th)|(?:mon|tues|wednes|thurs|fri|satur|sun)day|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
                 r"|(?:19|20)\d{2})\b")
# "J.M., 34", "K.L. from Round Rock", "Rachel K., 38, a teacher": initials or first name + initial with details
INITIALS_RE = (r"\b(?:[A-Z]\.\s?[A-Z]\.|[A-Z][a-z]+ [A-Z]\.)(?=,?\s*(?:\d{2}\b|age[sd]?\b|from [A-Z]|a local|an? \w+ "
               r"(?:from|in|at)\b))")
HANDLE_RE = r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?"
SECOND_PERSON = {"you", "your", "yours", "you're", "youre", "you'll", "you've", "yourself", "ya", "u", "ur", "y'all"}
PLACEHOLDER_RE = re.compile(r"\{[^{}]{1,40}\}|\[[A-Z_ ]{2,30}\]|<<?[A-Za-z_ ]{2,30}>>?")
UP, LO = "A-ZÁÉÍÓÚÑÜ", "a-záéíóúñü"  # names in Spanish keep their accents ("Sofía Ríos")
GREETING_RE = re.compile(
    r"(?:^[¡¿]?|[\n.!?]\s*[¡¿]?|:\s*)(?i:hi|hello|hey|dear|good (?:morning|afternoon|evening))\s+"
    rf"(?P<name>[{UP}][{LO}]+(?:\s[{UP}]\.)?)\s*[,!]",
)
VOCATIVE_START_RE = re.compile(
    r"(?:^[¡¿]?|[\n.!?]\s+[¡¿]?)(?:(?i:hi|hey|hello|dear|thanks|thank you|thank u|congrats|congratulations|aww+|yay|"
    r"welcome(?: back)?|happy birthday|so sorry|sorry|hola|gracias|muchas gracias|felicidades|bienvenida|bienvenido)[,!]?\s+)?"
    rf"(?P<name>[{UP}][{LO}]{{1,20}})(?=\s*(?:,|!|\.\s|$))",
)
GREETED_RE = re.compile(r"(?i:hi|hey|hello|dear|thanks|thank you|thank u|congrats|congratulations|welcome(?: back)?|"
                        r"happy birthday|hola|gracias|felicidades|bienvenida|bienvenido)[,!]?\s+$")  # a greeting right before a capitalized word makes it a name
VOCATIVE_END_RE = re.compile(rf",\s+(?P<name>[{UP}][{LO}]{{1,20}})\s*(?=[!.?…]|\s*$|\s*[^\w\s])")
POSSESSIVE_NAME_RE = re.compile(rf"\b(?P<name>[{UP}][{LO}]{{2,20}})['’]s\b")
PROPN_PAIR_RE = re.compile(rf"\b([{UP}][{LO}]{{1,20}})[ \t]+([{UP}][{LO}]{{1,20}})\b")  # on one line
SCHEDULE_RE = re.compile(r"\b\d{1,2}(?::\d\d)\s?(?:am|pm)?\b|\b\d{1,2}\s?(?:am|pm)\b|\bappointments?\b|\bschedule\b", re.I)
CUE_NAME_RE = re.compile(
    r"\b(?i:to|client|patient|congrats|congratulations|shout ?out to|thanks to|thank you to|birthday to|thanks|thank you|thank u|"
    r"referring|welcome|featuring|meet our client|spotlight:?|felicidades a|gracias a|bienvenida|bienvenido|cumpleaños a)\s*,?\s+"
    rf"(?P<name>[{UP}][{LO}]+(?:\s+[{UP}][{LO}]+|\s+[{UP}]\.)?)"
)
ATTRIBUTION_RE = re.compile(  # the quote is bounded so a text full of apostrophes stays linear
    r"[\"'“‘].{3,600}?[\"'”’]\s*(?:[—–]|--|-|~)\s*(?P<name>@?[A-Z][\w.]*(?:\s+[A-Z][\w.]*){0,2})"
)
GENERIC_QUANTIFIER_RE = re.compile(
    r"\b(?:some|many|most|any|all|every|certain)\s+(?:\w+\s+)?(?:people|clients|patients|medications|injectables|"
    r"treatments|fillers|providers|procedures|products|skin types|side effects|injections|women|men)\b", re.I)
OWN_CARE_RE = re.compile(r"\byour\s+(?:\w+\s+)?(?:appointment|appt|visit|session|treatment|touch-?up|follow-?up|"
                         r"results?|dose|package)s?\b|\byou(?:'ve| have| had|'re| are| were)?\s+(?:\w+\s+)?"
                         r"(?:came|come in|had|got|did|started|finished|booked|been (?:in|here|coming))\b", re.I)
QUOTES = frozenset("'\"‘’“”«»")
URL_RE = re.compile(  # bounded repeats: linear on a 100,000-character run without spaces
    r"(?:https?://|www\.)\S{1,300}|\b[\w.+-]{1,64}@[\w-]{1,63}\.\w{1,24}|\b[\w-]{1,63}(?:\.[\w-]{1,63}){0,4}\.(?:com|net|org|co|us|io|me|"
    r"health|clinic|spa|care|info|biz)\b(?:/\S{0,300})?", re.I)
EVENT_HEADS = {"night", "gala", "party", "sale", "membership", "giveaway", "expo", "festival", "fair", "soiree", "mixer",
               "journey", "story", "series"}  # ...and the heads of a story's title ("Weight-Loss Journey")
WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
NOT_NAMES = {
    "thanks", "thank", "hi", "hello", "hey", "yes", "no", "ok", "okay", "haha", "ha", "wow", "omg", "aww",
    "great", "congrats", "congratulations", "sorry", "please", "welcome", "happy", "hope", "love", "so", "we",
    "our", "the", "this", "that", "it", "you", "your", "they", "she", "he", "her", "his", "just", "also",
    "fact", "myth", "tip", "note", "day", "week", "pov", "faq", "subject", "swipe", "book", "call", "try",
    "start", "stop", "keep", "take", "wait", "enjoy", "ice", "apply", "massage", "skip", "don't", "dont",
    "absolutely", "definitely", "unfortunately", "honestly", "well", "oh", "ah", "hmm", "yay", "cheers",
    "xoxo", "luma", "babe", "girl", "hun", "friend", "friends", "team", "everyone", "y'all",
    "dr", "mr", "mrs", "ms", "miss", "prof", "nurse", "doctor",
    "mother", "father", "mom", "dad", "valentine", "president", "memorial", "labor", "christmas", "halloween",
    "easter", "thanksgiving", "st", "saint", "new", "year", "today", "tonight", "tomorrow", "botox", "spring",
    "summer", "fall", "winter", "galentine", "galentines",
    # a whole audience addressed at once ("Ladies, our lip flip party is Friday")
    "ladies", "gents", "gentlemen", "guys", "folks", "everybody", "beauties", "babes", "lovelies", "besties", "fam",
    "neighbors", "members", "mamas", "brides", "all",
    # Spanish words the NER takes for a name, and Spanish titles
    "mil", "gracias", "sí", "si", "su", "sus", "tu", "mi", "hola", "sra", "sr", "srta", "dra", "señora", "señor",
} | WEEKDAYS
# Day and month abbreviations the statistical NER sometimes calls a person ("booked for Fri at 11"); never a
# name on their own, whatever vocabulary is loaded ("May" and "June" are names, so they are not here).
CALENDAR_ABBREVIATIONS = frozenset({"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "jan",
                                    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"})


def _offline_tldextract() -> None:
    """Use tldextract's bundled suffix-list snapshot; never the network."""
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


@dataclass(frozen=True)
class Span:
    label: str
    start: int
    end: int
    text: str
    score: float = 1.0
    recognizer: str = ""


@dataclass
class Sentence:
    start: int
    end: int
    text: str
    has_2p: bool
    generic: bool
    tokens: list = field(default_factory=list, repr=False)  # spaCy tokens of the sentence


@dataclass
class Person:
    """A person mentioned in the text and what the context says about them."""

    start: int
    end: int
    text: str
    kind: str  # name | handle
    role: str  # addressee | staff | celebrity | recipient | spa | third_party | unknown
    reasons: list[str] = field(default_factory=list)
    attribution: bool = False  # quoted testimonial attributed to this person


@dataclass
class TextAnalysis:
    text: str
    doc: object
    entities: list[Span]
    sentences: list[Sentence]
    persons: list[Person]
    reply_terms: set[str]
    reply_people: set[str]
    reviewer_prospect: bool
    greeting_recipient: str | None
    deadline: Deadline | None = field(default=None, repr=False, compare=False)  # the item's time budget
    normalized: Normalized | None = field(default=None, repr=False, compare=False)  # `text` -> the item's text

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Offsets in `text` (normalized, see normalize.py) -> offsets in the text the user wrote."""
        return self.normalized.to_original(start, end) if self.normalized is not None else (start, end)

    def spans(self, *labels: str) -> list[Span]:
        return [e for e in self.entities if e.label in labels]

    @cached_property
    def treatment_terms(self) -> list[Span]:
        return [e for e in self.entities if e.label in TREATMENT_LABELS]

    @cached_property
    def _sentence_starts(self) -> list[int]:
        return [s.start for s in self.sentences]

    def sentence_index(self, pos: int) -> int | None:
        """Index of the sentence holding `pos` (binary search; the last sentence when none holds it)."""
        if not self.sentences:
            return None
        i = bisect.bisect_right(self._sentence_starts, pos) - 1
        return i if i >= 0 and pos < self.sentences[i].end else len(self.sentences) - 1

    def sentence_at(self, pos: int) -> Sentence | None:
        i = self.sentence_index(pos)
        return None if i is None else self.sentences[i]


def _batch(texts: list[str]) -> int:
    """Texts per spaCy minibatch: PARSE_BATCH, fewer when the longest would make a batch over PARSE_CHARS."""
    return max(1, min(PARSE_BATCH, PARSE_CHARS // max([1, *(len(t) for t in texts)])))


def _first_name(author: str | None) -> str | None:
    if not author:
        return None
    a = author.strip()
    if a.startswith("@"):
        return None
    m = re.match(r"([A-Za-z][A-Za-z'’-]+)", a)
    return m.group(1) if m and len(m.group(1)) > 1 and "." not in m.group(1) else None


class TextAnalyzer:
    """Holds the loaded spaCy model and the Presidio analyzer; analyses texts in batches."""

    analyzer: Any
    nlp: Any
    _generic_re: re.Pattern[str]
    _not_names: set[str]
    _ner_hygiene: bool
    _identified_re: re.Pattern[str] | None
    _role_name_re: re.Pattern[str]
    _team_after: re.Pattern[str] | None
    _family_name_re: re.Pattern[str]
    _never_in_names: set[str]
    _greeting_re: re.Pattern[str]
    _institution_before: re.Pattern[str] | None
    _second_person: set[str]
    _treatment_re: re.Pattern[str]
    _your_treatment_re: re.Pattern[str]
    _celebrity_re: re.Pattern[str]
    _family_before: re.Pattern[str]
    _staff_before: re.Pattern[str]
    _staff_after: re.Pattern[str]
    _spa_handles: set[str]
    _spa_names: set[str]
    _staff_names: set[str]
    _reply_skip: list[str]

    def __init__(self, profile: config.SpaProfile | None = None, model: str | None = None):
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

        self.profile = profile or config.SpaProfile()
        self.lexicon: Lexicon = load_lexicon()
        model_name = model or config.spacy_model()
        ner_conf = NerModelConfiguration(labels_to_ignore=["ORG", "ORGANIZATION", "CARDINAL", "ORDINAL", "QUANTITY",
                                                           "MONEY", "PERCENT", "PRODUCT", "WORK_OF_ART", "LAW",
                                                           "LANGUAGE", "EVENT", "FAC"])
        try:
            self.nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model_name}],
                                             ner_model_configuration=ner_conf)
            self.nlp_engine.load()
        except OSError as exc:
            raise RuntimeError(f"spaCy model '{model_name}' is not installed (set MEDSPA_SCAN_SPACY_MODEL)") from exc
        assert self.nlp_engine.nlp is not None
        self.nlp = self.nlp_engine.nlp["en"]
        if "lemmatizer" in self.nlp.pipe_names:
            self.nlp.disable_pipe("lemmatizer")  # no rule reads lemmas; saves a pipeline step per text
        self._reply_skip = self._all_but_ner(self.nlp)
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=self.nlp_engine)
        for rec in list(registry.recognizers):
            if rec.name not in US_RECOGNIZERS:
                registry.remove_recognizer(rec.name)
        for key, label in LABEL_OF_KEY.items():
            registry.add_recognizer(PatternRecognizer(
                supported_entity=label, name=f"MedSpa{label.title()}Recognizer",
                patterns=[Pattern(label.lower(), term_regex(list(self.lexicon.terms(key))).pattern, 0.9)],
                global_regex_flags=re.IGNORECASE,
            ))
        registry.add_recognizer(PatternRecognizer(
            supported_entity="VISIT_DATE", name="VisitDateRecognizer", patterns=[Pattern("visit date", VISIT_DATE_RE, 0.6)],
            context=["appointment", "visit", "session", "treated", "seen", "came", "consult", "booked"],
            global_regex_flags=re.IGNORECASE,
        ))
        registry.add_recognizer(PatternRecognizer(
            supported_entity="INITIALS_WITH_DETAILS", name="InitialsWithDetailsRecognizer",
            patterns=[Pattern("initials with details", INITIALS_RE, 0.7)], global_regex_flags=0,
        ))
        registry.add_recognizer(PatternRecognizer(
            supported_entity="SOCIAL_HANDLE", name="SocialHandleRecognizer",
            patterns=[Pattern("handle", HANDLE_RE, 0.9)], global_regex_flags=0,
        ))
        self.analyzer = AnalyzerEngine(registry=registry, nlp_engine=self.nlp_engine, supported_languages=["en"])
        _offline_tldextract()
        self._celebrity_re = term_regex(list(self.lexicon.terms("celebrities")))
        self._treatment_re = term_regex([t for k in LABEL_OF_KEY for t in self.lexicon.terms(k)])
        self._your_treatment_re = re.compile(rf"\byour\s+(?:\w+\s+)?(?!skin\b)(?:{self._treatment_re.pattern})", re.I)
        # words the statistical NER takes for people; with them, NER "people" that no name looks like are dropped
        self._not_names = NOT_NAMES | set(self.lexicon.terms("not_names"))
        self._ner_hygiene = bool(self.lexicon.terms("ner_hygiene"))
        # words that are never part of a person's name ("Transformation Tuesday"), and the practice's own city
        # ("Boise" from "..., Boise, ID 83702"): the spa's own address is not a person (corpus README, labels)
        self._never_in_names = set(self.lexicon.terms("never_in_names")) | {
            w.lower() for a in self.profile.addresses for part in a.split(",")[1:]
            for w in re.findall(r"\b[A-Z][a-z]{2,}\b", part)}
        prefixes = self.lexicon.terms("institution_prefixes")  # "St. Luke's": the whole word before the name
        self._institution_before = re.compile(
            rf"(?<![\w.])(?:{'|'.join(re.escape(p) for p in prefixes)})\s*$", re.I) if prefixes else None
        more = self.lexicon.terms("greetings")  # e.g. Spanish "hola" (lexicons.d), never a name either
        self._not_names = self._not_names | {g for g in more if " " not in g}
        self._greeting_re = re.compile(GREETING_RE.pattern.replace(
            "(?i:hi|", "(?i:" + "".join(re.escape(g) + "|" for g in more) + "hi|")) if more else GREETING_RE
        cues = self.lexicon.terms("identification_cues")  # "Yep, that's Sloane!" answers "is that ...?"
        self._identified_re = re.compile(rf"(?i:\b(?:{'|'.join(re.escape(c) for c in cues)}))\s+(?:our\s+)?"
                                         r"(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+|\s+[A-Z]\.)?)\b") if cues else None
        self._generic_re = term_regex(list(self.lexicon.terms("generic_markers")))
        self._second_person = SECOND_PERSON | set(self.lexicon.terms("second_person_words"))  # e.g. Spanish "tu"
        roles = self.lexicon.alternation("staff_roles")
        # credentials are written in capitals ("Kayla RN", "Jo, LE"); Spanish "le" or "pa" after a comma are words
        creds = "(?-i:" + "|".join(re.escape(c.upper()) for c in self.lexicon.terms("credentials")) + ")"
        fam = self.lexicon.alternation("family_words")
        # "our esthetician Maya": the role names the person even where the statistical NER does not
        self._team_after = re.compile(rf"\s+(?:{self.lexicon.alternation('team_nouns')})", re.I) if (
            self.lexicon.terms("team_nouns")) else None
        self._role_name_re = re.compile(rf"\b(?i:our|my|your)\s+(?:[\w-]+\s+)?(?i:{roles})\s*,?\s+"
                                        r"(?P<name>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b")
        self._staff_before = re.compile(
            rf"(?:\b(?:dr|dra|doctor|doctora|nurse|enfermera|np|pa)\.?\s+$|\bour\s+(?:[\w-]+\s+){{0,3}}?(?:{roles})\s*,?\s*$|\bour (?:very )?own\s+$|"
            rf"\b(?:ask for|with|by|meet|from)\s+$|\b(?:{roles})\s+$)",
            re.IGNORECASE,
        )
        self._staff_after = re.compile(
            rf"^(?:\s*,?\s*(?:{creds})\b|\s*,\s*(?:our|the|a|an)\s+(?:[\w-]+\s+){{0,3}}?(?:{roles})\b|\s*\(\s*(?:our\s+)?(?:[\w-]+\s+){{0,2}}?(?:{roles})\b|"
            rf"\s+(?:says hi|said hi|will be|is our|is the best|is an? (?:artist|amazing)|loves helping|has \d|has performed))",
            re.IGNORECASE,
        )
        self._family_before = re.compile(rf"\b(?:your|my|his|her|their|su|tu|mi)\s+(?:{fam})\s*,?\s*$", re.IGNORECASE)
        # "your sister Lauren", "su hija Valeria": the relation names the person even where the NER does not
        self._family_name_re = re.compile(rf"\b(?i:your|my|his|her|their|su|tu|mi)\s+(?i:{fam})\s*,?\s+"
                                          rf"(?P<name>[{UP}][{LO}]+(?:\s+[{UP}][{LO}]+)?)\b")
        self._spa_names = {n.lower() for n in [self.profile.name, *self.profile.names] if n}
        bare = [re.sub(r"^(?:dr|dra|nurse|mr|mrs|ms)\.?\s+", "", s.strip(), flags=re.I).split() for s in self.profile.staff]
        self._staff_names = {n.lower() for s in self.profile.staff for n in (s, s.split()[0]) if n} | {
            w.lower() for words in bare for w in (words[:1] + words[-1:] if len(words) > 1 else words)}  # "Sorensen" too
        self._spa_handles = {h.lower() for h in self.profile.handles}

    @staticmethod
    def _all_but_ner(nlp: Any) -> list[str]:
        """The pipes a names-only pass can skip: all but `ner` and the shared `tok2vec` when `ner` listens to it
        (en_core_web_sm's `ner` embeds the words itself, so the shared one only feeds the tagger and parser)."""
        keep = {"ner"}
        for name in nlp.pipe_names:
            if "ner" in getattr(nlp.get_pipe(name), "listening_components", ()):
                keep.add(name)
        return [name for name in nlp.pipe_names if name not in keep]

    # -- public ---------------------------------------------------------------------------------
    def analyze_items(self, items: list[Item]) -> list[TextAnalysis]:
        """One full parse per text; the reviews being answered only need names (NER), so they skip the parser.

        Each item's time budget starts charged with its share (by length) of the batch parse. Texts are
        normalized first (invisible and look-alike characters, normalize.py); offsets in the analysis are
        offsets in the normalized text (`TextAnalysis.to_original` maps them back)."""
        t0 = time.monotonic()
        norms = [normalize(it.text) for it in items]
        items = [self._readable(it, n) for it, n in zip(items, norms, strict=True)]
        texts = [it.text for it in items]
        arts = [pair[1] for pair in self.nlp_engine.process_batch(texts, language="en", batch_size=_batch(texts))]
        reply_docs = self._reply_docs([it.in_reply_to or "" for it in items])
        sizes = [len(it.text) + len(it.in_reply_to or "") for it in items]
        per_char = (time.monotonic() - t0) / (sum(sizes) or 1)
        out = [self._analyze(it, art, doc, Deadline.start(spent=per_char * n))
               for it, art, doc, n in zip(items, arts, reply_docs, sizes, strict=True)]
        for analysis, norm in zip(out, norms, strict=True):
            analysis.normalized = norm
        return out

    def _reply_docs(self, replies: list[str]) -> list[Any]:
        """The reviews answered, through the named-entity recognizer only (their names are all that is read);
        an item that answers nothing gets an empty doc without a pass through the model."""
        present = [r for r in replies if r]
        parsed = iter(self.nlp.pipe(present, disable=self._reply_skip, batch_size=_batch(present)))
        return [next(parsed) if r else self.nlp.make_doc("") for r in replies]

    @staticmethod
    def _readable(item: Item, norm: Normalized) -> Item:
        """The item as the detectors read it: text, the review answered and its author normalized."""
        reply = normalize(item.in_reply_to).text if item.in_reply_to else item.in_reply_to
        author = normalize(item.author).text if item.author else item.author
        if norm.text == item.text and reply == item.in_reply_to and author == item.author:
            return item
        return item.model_copy(update={"text": norm.text, "in_reply_to": reply, "author": author})

    def analyze(self, item: Item) -> TextAnalysis:
        return self.analyze_items([item])[0]

    # -- internals ------------------------------------------------------------------------------
    def _presidio(self, text: str, art, deadline: Deadline | None = None) -> list[Span]:
        if not text.strip():
            return []
        spans = []
        for offset, part, part_art in self._presidio_parts(text, art):
            if deadline is not None and deadline.skip(f"identifiers from character {offset:,} on"):
                break
            results = self.analyzer.analyze(text=part, language="en", nlp_artifacts=part_art)
            spans += [Span(r.entity_type, offset + r.start, offset + r.end, part[r.start:r.end], r.score,
                           (r.recognition_metadata or {}).get("recognizer_name", "")) for r in results]
        return sorted(spans, key=lambda s: (s.start, -s.end))

    def _presidio_parts(self, text: str, art) -> Iterator[tuple[int, str, Any]]:
        """The text in runs of whole sentences of at most PRESIDIO_PART characters (one run when short).

        Presidio's de-duplication compares every result with every other; on a long text full of names
        that is quadratic, so a long text is analysed a few sentences at a time, on slices of its parse."""
        doc = art.tokens
        if len(text) <= PRESIDIO_PART:
            yield 0, text, art
            return
        cuts = []  # token indices a part may start at: sentence starts, and words inside an overlong sentence
        for sent in doc.sents:
            cuts.append(sent.start)
            mark = sent.start_char
            for tok in sent:
                if tok.idx - mark > PRESIDIO_PART:
                    cuts.append(tok.i)
                    mark = tok.idx
        first = prev = 0
        for cut in [*cuts[1:], len(doc)]:
            if doc[cut - 1].idx + len(doc[cut - 1]) - doc[first].idx > PRESIDIO_PART and prev > first:
                yield self._part(doc, first, prev)
                first = prev
            prev = cut
        if prev > first:
            yield self._part(doc, first, prev)

    def _part(self, doc, first: int, end: int) -> tuple[int, str, Any]:
        part = doc[first:end].as_doc()
        return doc[first].idx, part.text, self.nlp_engine._doc_to_nlp_artifact(part, "en")

    def _analyze(self, item: Item, art, reply_doc, deadline: Deadline | None = None) -> TextAnalysis:
        text = item.text
        doc = art.tokens
        deadline = deadline or Deadline.start()
        entities = self._presidio(text, art, deadline)
        if self._team_after:  # "our nursing team", "the laser staff": a team, no one's treatment
            entities = [e for e in entities if not (e.label in TREATMENT_LABELS and self._team_after.match(text, e.end))]
        if "." in text:  # "tamarackskin.com/prp": a word inside a web address or e-mail is no one's treatment
            urls = [m.span() for m in URL_RE.finditer(text)]
            entities = [e for e in entities if not (e.label in TREATMENT_LABELS and any(a <= e.start < b for a, b in urls))]
        treat = [e for e in entities if e.label in TREATMENT_LABELS]
        # a product or procedure is never a person; placeholders are never people
        in_term = {i for t in treat for i in range(t.start, t.end)}  # character positions, for linear look-ups
        in_placeholder = {i for m in PLACEHOLDER_RE.finditer(text) for i in range(m.start(), m.end())}
        entities = [e for e in entities if not (e.label == "PERSON" and (
            any(i in in_term for i in range(e.start, e.end)) or e.start in in_placeholder))]
        sentences = self._sentences(doc)
        reply_text = item.in_reply_to or ""
        reply_terms = {m.group(0).lower() for key in LABEL_OF_KEY for m in self.lexicon.regex(key).finditer(reply_text)}
        reply_people = {e.text.split()[0].lower() for e in reply_doc.ents
                        if e.label_ == "PERSON" and e.text.split() and not self._treatment_re.search(e.text)}
        reply_people |= {m.group(1).lower() for m in re.finditer(r"\b(?:with|by|thank you|thanks|my injector)\s+(?:dr\.?\s+)?([A-Z][a-z]+)", reply_text, re.I)}
        greeting = None
        if item.kind == "message":
            m = self._greeting_re.search(text[:400])
            greeting = m.group("name").split()[0] if m else None
        persons = [] if deadline.skip("people named") else self._persons(item, text, doc, entities, reply_people,
                                                                           greeting)
        return TextAnalysis(
            text=text, doc=doc, entities=entities, sentences=sentences, persons=persons,
            reply_terms=reply_terms, reply_people=reply_people,
            reviewer_prospect=self._is_prospect(reply_text), greeting_recipient=greeting, deadline=deadline,
        )

    def _sentences(self, doc) -> list[Sentence]:
        out = []
        for sent in doc.sents:
            s_text = sent.text
            has_2p = any(t.lower_ in self._second_person for t in sent)
            generic = bool(self._generic_re.search(s_text) or GENERIC_QUANTIFIER_RE.search(s_text))
            if generic and (self._your_treatment_re.search(s_text) or OWN_CARE_RE.search(s_text)):
                generic = False  # "your lips", "you came in" make it about one person even with "usually"
            out.append(Sentence(sent.start_char, sent.end_char, s_text, has_2p, generic, list(sent)))
        return out

    @staticmethod
    def _is_prospect(review: str) -> bool:
        """The reviewer writes as someone who has not been treated here (a question, 'haven't been in')."""
        if not review.strip():
            return False
        r = review.lower()
        if re.search(r"haven'?t been (in|here)|not (a|yet a) (client|patient)|thinking (about|of)|considering|"
                     r"\bnever been\b|\bnever will\b|\bi'?ve never (been|gone|visited|tried)|"
                     r"for anyone|is it (safe|ok|okay)|can (i|you) (still )?get|how long|does .{0,30} hurt", r):
            experience = re.search(r"\b(i|i've|i'm) (got|had|did|just got|just had)\b|\bgot (my|this)\b|\bhad my\b|"
                                   r"\bdone here\b|\bmy injector\b|\b(my|our) (last|first) (visit|appointment|session)",
                                   r)
            return not experience
        return False

    def _persons(self, item: Item, text: str, doc, entities: list[Span], reply_people: set[str],
                 greeting: str | None) -> list[Person]:
        cands: dict[tuple[int, int], Person] = {}
        spans: list[tuple[int, int]] = []  # the keys of cands, sorted: overlaps are looked up near a span only
        added: dict[tuple[int, int], int] = {}  # span -> order of arrival
        longest = 0
        author_first = _first_name(item.author)
        author_handle = item.author.strip().lower() if item.author and item.author.strip().startswith("@") else None
        propn = {t.idx: t for t in doc if t.pos_ == "PROPN"}

        def add(start: int, end: int, kind: str, reason: str, attribution: bool = False) -> None:
            nonlocal longest
            # strip titles and trailing punctuation
            seg = text[start:end]
            opener = re.match(r"[¡¿]*(?:(?:hola|hi|hey|hello|dear|querida|querido)\s+(?=[A-ZÁÉÍÓÚÑ]))?", seg, re.I)
            if opener and opener.end():
                start, seg = start + opener.end(), seg[opener.end():]
                if seg.strip(" .,!?").lower() in self._not_names:
                    return  # "¡Sí": a word, not a name, once the mark is off
            lead = re.match(r"(?:(?:dr|dra|mr|mrs|ms|miss|sra|srta)\.?\s+)", seg, re.I)
            if lead and kind == "name":
                reason = reason + "+title"
            seg_clean = re.split(r"\s+[-–—]\s*|[,:;!?\n(]", seg)[0].rstrip(".,!?;:'’ ")
            end = start + len(seg_clean)
            if end <= start:
                return
            lo = bisect.bisect_left(spans, (start - longest, -1))
            hi = bisect.bisect_right(spans, (end, end))
            near = sorted(spans[lo:hi], key=added.__getitem__)
            for s, e in near:  # in the order they were added, as a scan of every candidate would
                if s <= start and end <= e:
                    cands[(s, e)].reasons.append(reason)
                    cands[(s, e)].attribution = cands[(s, e)].attribution or attribution
                    return
                if start <= s and e <= end:
                    del cands[(s, e)]
                    spans.remove((s, e))
            cands[(start, end)] = Person(start, end, text[start:end], kind, "unknown", [reason], attribution)
            bisect.insort(spans, (start, end))
            added[(start, end)] = len(added)
            longest = max(longest, end - start)

        for e in entities:
            if e.label == "PERSON" and len(e.text.strip()) > 1 and self._could_be_a_name(text, e.start, e.end):
                add(e.start, e.end, "name", "ner")
            elif e.label == "SOCIAL_HANDLE":
                add(e.start, e.end, "handle", "handle")
        newlines = [m.start() for m in re.finditer("\n", text)]
        schedule_lines: dict[int, bool] = {}  # line start -> the line reads as a schedule (checked once per line)
        for m in PROPN_PAIR_RE.finditer(text):  # "10:30 Jenna Marlow - Botox": a schedule line
            if not (m.start(1) in propn and m.start(2) in propn and not self._treatment_re.search(m.group(0))
                    and m.group(1).lower() not in self._not_names):
                continue
            n = bisect.bisect_left(newlines, m.start())
            line_start = newlines[n - 1] + 1 if n else 0
            if line_start not in schedule_lines:
                line = text[line_start:newlines[n] if n < len(newlines) else len(text)]
                schedule_lines[line_start] = bool(SCHEDULE_RE.search(line) or self._treatment_re.search(line))
            if schedule_lines[line_start] and not self._never_a_name(text, m.start(), m.group(0)):
                add(m.start(), m.end(), "name", "schedule")
        identified = [*self._identified_re.finditer(text)] if self._identified_re else []
        identified += self._role_name_re.finditer(text)
        identified += self._family_name_re.finditer(text)
        identified_at = {m.start("name") for m in identified}  # the cue itself is evidence enough of a name
        for m in [*CUE_NAME_RE.finditer(text), *identified]:
            cue_name: str = m.group("name")
            if cue_name.split()[0].lower() not in self._not_names and not self._treatment_re.search(cue_name) and not (
                    self._never_a_name(text, m.start("name"), cue_name)) and (
                    " " in cue_name or m.start("name") in propn or m.start("name") in identified_at):
                add(m.start("name"), m.end("name"), "name", "cue")
        for rx, reason in ((VOCATIVE_START_RE, "vocative"), (VOCATIVE_END_RE, "vocative"),
                           (POSSESSIVE_NAME_RE, "possessive")):
            for m in rx.finditer(text):
                word = m.group("name")
                s = m.start("name")
                if word.lower() in self._not_names or self._treatment_re.fullmatch(word) or self._never_a_name(text, s, word):
                    continue
                is_author = author_first and (word.lower() == author_first.lower() or (
                    len(word) >= 3 and author_first.lower().startswith(word.lower())))
                greeted = rx is VOCATIVE_START_RE and GREETED_RE.search(text[m.start():s])  # "Thank you Rosalind!"
                if is_author or s in propn or greeted:
                    add(s, m.end("name"), "name", reason)
        if author_first:
            for m in re.finditer(r"\b([A-Z][a-z]{2,20})\b", text):
                w = m.group(1).lower()
                if w == author_first.lower() or (len(w) >= 3 and author_first.lower().startswith(w) and w not in self._not_names):
                    add(m.start(1), m.end(1), "name", "author")
        for m in ATTRIBUTION_RE.finditer(text):
            add(m.start("name"), m.end("name"), "handle" if m.group("name").startswith("@") else "name",
                "attribution", attribution=True)

        persons = sorted(cands.values(), key=lambda p: p.start)
        for p in persons:
            p.role = self._role(item, text, p, author_first, author_handle, reply_people, greeting)
        return persons

    def _never_a_name(self, text: str, start: int, span: str) -> bool:
        """Only words never in a person's name ("Tuesday", the practice's own city) or a saint's name before "'s"
        ("St. Luke's" is a hospital), with the vocabulary in lexicons.d."""
        words = [w.strip(".'’-,").lower() for w in span.split()]
        if words and all(w in self._never_in_names or w in self._not_names for w in words):
            return True  # every word is one a name never has ("Transformation Tuesday"); "Coordinator Jess" stays
        if len(words) > 1 and (words[-1] in WEEKDAYS or words[-1] in EVENT_HEADS):
            return True  # a themed day or event ("Frozen Friday", "Botox & Bubbles Night"), never a person
        return bool(self._institution_before and self._institution_before.search(text, max(0, start - 10), start))

    def _could_be_a_name(self, text: str, start: int, end: int) -> bool:
        """False for what the statistical NER calls a person but no name looks like: a day or month abbreviation
        ("Fri") always; with the `not_names` vocabulary (lexicons.d) also a quoted term ('Brotox'), digits
        ("MEN2"), a short acronym, a treatment word, or only words that are never names ("Patient Care")."""
        span = text[start:end]
        if span.strip(" .").lower() in CALENDAR_ABBREVIATIONS:
            return False
        if self._never_a_name(text, start, span):
            return False
        if len(span.split()) >= 3 and not any(ch.isupper() for ch in span):
            return False  # "recordamos su cita de fisioterapia": a lower-case phrase is no one's name
        if not self._ner_hygiene:
            return True
        words = [w.strip(".'’-").lower() for w in re.findall(r"[\w'’.-]+", span)]
        if text[start - 1:start] in QUOTES and text[end:end + 1] in QUOTES:
            return False
        if not words or any(ch.isdigit() for ch in span) or (len(words) == 1 and span.isupper() and len(span) <= 4):
            return False
        return not (all(w in self._not_names for w in words) or self._treatment_re.fullmatch(span.strip()))

    def _role(self, item: Item, text: str, p: Person, author_first: str | None, author_handle: str | None,
              reply_people: set[str], greeting: str | None) -> str:
        low = p.text.lower()
        first = re.sub(r"^(?:dr|mr|mrs|ms)\.?\s+", "", low).split()[0] if low.split() else low
        before = text[max(0, p.start - 60):p.start]
        after = text[p.end:p.end + 60]
        if p.kind == "handle":
            if low in self._spa_handles or re.search(r"\b(?:our|at|follow us|find us|on)\s*(?:instagram|ig|page|tiktok)?\s*,?\s*$", before, re.I) and re.search(r"\bour\b|\bfollow us\b|\bat\s*$", before, re.I):
                return "spa"
            if author_handle and low.rstrip(".") == author_handle.rstrip("."):
                return "addressee" if item.kind in ("reply", "comment") else "third_party"
            if item.kind in ("reply", "comment") and not author_handle and not text[:p.start].strip():
                return "addressee"  # "@sam.runs great question! ...": the reply opens by tagging the asker
            return "third_party"
        if any(n in low for n in self._spa_names) or low in {"luma"}:
            return "spa"
        if self._celebrity_re.search(p.text) or re.search(r"\blike\s+$", before, re.I):
            return "celebrity"
        if self._family_before.search(before):
            return "third_party"
        if item.kind in ("reply", "comment") and author_first and (
                first == author_first.lower() or (len(first) >= 3 and author_first.lower().startswith(first))):
            return "addressee"  # the reviewer is never staff
        if (self._staff_before.search(before) or self._staff_after.search(after) or "+title" in "".join(p.reasons)
                or low in self._staff_names or first in self._staff_names):
            return "staff"
        if item.kind == "message" and greeting and first == greeting.lower():
            return "recipient"
        if item.kind in ("reply", "comment"):
            is_author = author_first and (first == author_first.lower() or (
                len(first) >= 3 and author_first.lower().startswith(first)))
            if is_author or "vocative" in p.reasons:
                return "addressee"
            if first in reply_people:
                return "staff"  # the reviewer named them: their provider
        return "unknown"
