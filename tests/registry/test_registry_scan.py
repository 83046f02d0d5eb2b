"""Every scan consults the registry (end to end through the real Scanner): an authorized marketing use
passes with an info finding naming the authorization; the same post is unauthorized_use on another
channel, after expiry, after revocation, or when only another purpose is covered; a review reply
never becomes legal through an authorization; a shared first name is ambiguous."""
from __future__ import annotations

from datetime import date

import pytest

from scanner import Item, Registry, Store

HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
ROWS = ("J1,Jennifer Alvarado,Jen A.;Jen Alvarado,@jen.glows,before_after_photos;name_in_marketing,instagram,"
        "2024-01-01,2026-01-01,,\n"
        "J2,Jennifer Ocampo,,,name_in_marketing,all,2024-01-01,,,\n"
        "Q1,Quinn Delacroix,,@quinn.dlx,testimonial,instagram;facebook,2024-01-01,,,\n")
POST = "Jen's lip flip results are in! @jen.glows"
QUOTE = '"I finally feel like myself again" - Quinn Delacroix'


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    from scanner import Scanner

    home = tmp_path_factory.mktemp("registry-scan")
    store = Store(f"sqlite:///{home / 'scan.db'}")
    p = home / "consents.csv"
    p.write_text(HEADER + ROWS)
    Registry.import_csv(store, p, actor="tests")
    return Scanner(store=store, as_of=date(2025, 1, 1), with_images=False)


def scan(sc, text: str, channel: str = "instagram", kind: str = "post", as_of: str = "2025-01-01"):
    sc.as_of = date.fromisoformat(as_of)
    return sc.scan(Item(id="t", kind=kind, channel=channel, text=text))


def use(res) -> list[tuple[str, str]]:
    return [(f.severity.value, f.registry_record or "") for f in res.findings if f.category == "unauthorized_use"]


def test_authorized_post_passes_with_the_authorization_as_evidence(scanner):
    res = scan(scanner, POST)
    assert res.verdict == "pass", res.findings
    assert use(res) and all(u == ("info", "J1/2024-01-01") for u in use(res))
    res = scan(scanner, QUOTE, channel="facebook")
    assert res.verdict == "pass" and use(res) == [("info", "Q1/2024-01-01")]


@pytest.mark.parametrize(("text", "channel", "as_of", "record"), [
    (POST, "tiktok", "2025-01-01", "J1/2024-01-01"),       # channel not covered
    (POST, "instagram", "2026-01-01", "J1/2024-01-01"),    # expired (the end date is exclusive)
    (POST, "instagram", "2023-12-31", "J1/2024-01-01"),    # not yet signed
    (QUOTE, "tiktok", "2025-01-01", "Q1/2024-01-01"),
])
def test_the_same_post_is_unauthorized_use(scanner, text, channel, as_of, record):
    res = scan(scanner, text, channel=channel, as_of=as_of)
    assert res.verdict == "block" and ("high", record) in use(res)


def test_revocation_applies_from_its_date(scanner):
    store = scanner.registry.store
    Registry.revoke(store, "Q1", date(2025, 2, 1), "patient withdrew consent", actor="tests")
    scanner.registry.reload()
    try:
        assert scan(scanner, QUOTE, as_of="2025-01-31").verdict == "pass"
        res = scan(scanner, QUOTE, as_of="2025-02-01")
        assert res.verdict == "block" and ("high", "Q1/2024-01-01") in use(res)
    finally:
        with store.session() as s:
            from scanner.registry.authorizations import Authorization

            for g in s.query(Authorization).filter_by(patient_id="Q1"):
                g.revoked_on = None
        scanner.registry.reload()


def test_a_purpose_not_covered_is_unauthorized(scanner):
    res = scan(scanner, '"Best decision I ever made" - Jennifer Alvarado')  # a testimonial; J1 covers photos
    assert res.verdict == "block" and ("high", "J1/2024-01-01") in use(res)


def test_a_reply_never_becomes_legal_through_the_registry(scanner):
    res = scan(scanner, "Thanks Quinn Delacroix, we loved doing your filler!", channel="google", kind="reply")
    assert res.verdict == "block"
    assert not [f for f in res.findings if f.rule_id.startswith("AUT") and f.severity.value == "info"]


def test_a_shared_first_name_is_never_authorized(scanner):
    res = scan(scanner, "Jennifer's glow-up is unreal, swipe to see her before and after!")
    assert res.verdict != "pass"
    assert not [f for f in res.findings if f.category == "unauthorized_use" and f.severity.value == "info"]
