"""A missing image whose file name carries the first name of a registry client the text names in full is judged
with that client's authorization (stop 19, `text_named_images`): covered for photos on the channel -> the image is
named (IMG901 low) and the post can pass; not covered -> the post is stopped by the registry check; a file name
that says nothing about who is pictured stays a medium IMG901. Registry: rules/examples_registry.csv (Beatriz Soto:
testimonial and photos on instagram; Opal Example: testimonial and name, no photos)."""
from __future__ import annotations

import pytest

from scanner import Item

QUOTE = '"My lips finally feel like mine." - Beatriz S.'


@pytest.mark.parametrize("channel, text, image, verdict_pass", [
    ("instagram", QUOTE, "beatriz_lips_after.jpg", True),
    ("facebook", QUOTE, "beatriz_lips_after.jpg", False),  # her consent is for instagram only
    ("instagram", '"Best facial of my life." - Opal E.', "opal_facial_after.jpg", False),  # no photo consent
    ("instagram", QUOTE, "IMG_2231.jpg", False),  # the file name does not say who is pictured
])
def test_missing_image_named_for_a_client_the_text_names(text_scanner, tmp_path, monkeypatch, channel, text, image,
                                                         verdict_pass):
    monkeypatch.chdir(tmp_path)  # the image does not exist here
    result = text_scanner.scan(Item(id="img", kind="post", channel=channel, text=text, images=[image]))
    assert (result.verdict == "pass") == verdict_pass, [(f.rule_id, f.severity.value) for f in result.findings]
    [missing] = [f for f in result.findings if f.rule_id == "IMG901"]
    assert missing.severity.value == ("medium" if image.startswith("IMG_") else "low")


def test_a_file_name_that_also_names_someone_else_stays_unchecked(text_scanner, tmp_path, monkeypatch):
    """Beatriz is covered for photos, but "beatriz_and_marisol" pictures Marisol too, whom no consent covers."""
    monkeypatch.chdir(tmp_path)
    item = Item(id="two", kind="post", channel="instagram", images=["beatriz_and_marisol_lips.jpg"],
                text='"My lips finally feel like mine." - Beatriz S. Her friend Marisol came along for hers too!')
    result = text_scanner.scan(item)
    assert result.verdict != "pass"
    [missing] = [f for f in result.findings if f.rule_id == "IMG901"]
    assert missing.severity.value == "medium"
