"""The shipped scanner on new sentences for the kinds of wording the f4 sets showed (stop 19): wishes and praise
passed to the team (also in Spanish), a treatment word naming a team ("our nursing team"), general information
answering a question the asker asked about herself, a missing image whose file name says it is a diagram; from
the f5 sets: thanks for the stars, a welcome to the reviewer's new town, reading reviews in Spanish, a celebrity.
Each clean sentence has a violation beside it that differs in the one thing that makes it one. No sentence is taken
from a labeled set (tests/data/f4_kinds.jsonl)."""
from __future__ import annotations

from tests._sentences import load, wrong_verdicts

CASES = load("f4_kinds.jsonl")


def test_f4_kinds_get_the_right_verdict(text_scanner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the image files named in the posts do not exist here
    wrong = wrong_verdicts(text_scanner, CASES)
    assert not wrong, wrong


def test_a_vocabulary_file_turns_on_its_switch_only_while_its_set_is_not_held_out(monkeypatch):
    """lexicons.d/advice_f4_fitted.yaml names the `question_education` switch; holding out the set it was fitted
    on (make eval) leaves the switch off with the file."""
    from scanner.text.lexicon import load_lexicon
    from scanner.text.rule_loader import load_rule_pack

    load_lexicon.cache_clear()
    try:
        assert "question_education" in load_rule_pack().switches
        monkeypatch.setenv("MEDSPA_SCAN_HOLDOUT", "f4-advice-j")
        load_lexicon.cache_clear()
        assert "question_education" not in load_rule_pack().switches
    finally:
        monkeypatch.delenv("MEDSPA_SCAN_HOLDOUT")
        load_lexicon.cache_clear()
