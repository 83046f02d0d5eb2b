"""sources.yaml validation: every mistake is reported with the file, the source and the key, before anything
is fetched; `medspa-scan crawl` turns it into exit status 2 with one line, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from scanner.crawl.config import ConfigError, load_config, parse_since

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(("text", "message"), [
    ("sources:\n  - {name: fb, type: facebook_page}\n", "sources.yaml: source 'fb': missing 'page_id' (needed by type facebook_page)"),
    ("sources:\n  - {name: x, type: myspace}\n", "source 'x': 'type' is 'myspace'; expected one of facebook_page, file, google_business, instagram, rss, website"),
    ("sources:\n  - {name: fb, type: facebook_page, page_id: '1', pageid: '2'}\n", "source 'fb': unknown key 'pageid' for type facebook_page; did you mean 'page_id'?"),
    ("sources:\n  - {name: g, type: google_business, account_id: 1}\n", "source 'g': missing 'location_id'"),
    ("sources:\n  - {name: s, type: website}\n", "source 's': needs 'url' or 'urls' (type website)"),
    ("sources:\n  - {name: s, type: website, urls: [ftp://x]}\n", "source 's': 'urls' item 1 must be an http(s) URL"),
    ("sources:\n  - {name: b, type: rss, url: feed.xml}\n", "source 'b': 'url' must be an http(s) URL (got 'feed.xml')"),
    ("sources:\n  - {name: f, type: file, path: missing.jsonl}\n", "source 'f': 'path': no such file"),
    ("sources:\n  - {name: i, type: instagram, ig_user_id: '1', token_env: 'MY-TOKEN'}\n", "source 'i': 'token_env' must be the name of an environment variable"),
    ("sources:\n  - {name: i, type: instagram, ig_user_id: '1', timeout: -1}\n", "source 'i': 'timeout' must be a positive number"),
    ("sources:\n  - {name: i, type: instagram, ig_user_id: 'a/b'}\n", "source 'i': 'ig_user_id' must be an id without spaces"),
    ("sources:\n  - {name: b, type: rss, url: 'https://x', channel: myspace}\n", "source 'b': 'channel' must be one of instagram"),
    ("sources:\n  - {name: a, type: rss, url: 'https://x'}\n  - {name: a, type: rss, url: 'https://y'}\n", "source 'a': duplicate name"),
    ("sources:\n  - {type: rss, url: 'https://x'}\n", "sources.yaml: source #1: missing 'name'"),
    ("sources:\n  - {name: 'a b', type: rss, url: 'https://x'}\n", "source #1: 'name' must be 1-60 letters"),
    ("sources:\n  - just a string\n", "source #1: expected a mapping"),
    ("sources:\n  - {name: off, type: rss, url: 'https://x'}\n", "source #1: 'name' must be text (YAML reads on/off"),
    ("sources: []\n", "'sources' must be a non-empty list"),
    ("source:\n  - {name: a}\n", "unknown top-level key 'source'"),
    ("sources:\n  - {name: a, type: rss, url: 'https://x'}\ndefaults: {retires: 2}\n", "defaults: unknown key 'retires'"),
    ("sources: [\n", "sources.yaml: not valid YAML at line 2"),
    ("sources:\n  - {name: a, type: rss, url: 'https://x'}\ndefaults: {timeout: 0}\n", "sources.yaml: defaults: 'timeout' must be a positive number (got 0)"),
    ("sources:\n  - {name: a, type: rss, url: 'https://x', timeout: null}\n", "source 'a': 'timeout' must be a positive number (got None)"),
    ("sources:\n  - {name: a, type: rss, url: 'https://x', retries: true}\n", "source 'a': 'retries' must be a whole number (0 or more) (got True)"),
    ("sources:\n  - {name: s, type: website, urls: ['https://x', 5]}\n", "source 's': 'urls' item 2 must be an http(s) URL (got 5)"),
    ("sources:\n  - {name: g, type: google_business}\n", "source 'g': missing 'account_id', 'location_id' (needed by type google_business)"),
])
def test_config_errors_name_the_source_and_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_a_secret_in_the_file_is_never_echoed(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "sources:\n  - {name: i, type: instagram, ig_user_id: '1', token: 123456789}\n"))
    assert "123456789" not in str(err.value) and "'token' must be non-empty text (got a value)" in str(err.value)
    src = load_config(write(tmp_path, "sources:\n  - {name: i, type: instagram, ig_user_id: '1', token: s3cret-tok}\n")).sources[0]
    assert src.token == "s3cret-tok" and "s3cret-tok" not in repr(src) and "token" not in src.opts


def test_defaults_apply_and_sources_can_be_switched_off(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"id": "1", "text": "hello"}\n')
    cfg = load_config(write(tmp_path, "defaults: {timeout: 5, retries: 1}\nsources:\n"
                                      "  - {name: a, type: rss, url: 'https://x/feed', retries: 4}\n"
                                      "  - {name: paused, type: rss, url: 'https://y', enabled: false}\n"
                                      "  - {name: f, type: file, path: x.jsonl}\n"))
    assert [s.name for s in cfg.sources] == ["a", "f"]
    a, f = cfg.sources
    assert a.get("timeout") == 5.0 and a.get("retries") == 4
    assert f.get("path") == str((tmp_path / "x.jsonl").resolve())  # relative to sources.yaml


@pytest.mark.parametrize(("value", "expected"), [("7d", timedelta(days=7)), ("24h", timedelta(hours=24)),
                                                 ("2w", timedelta(weeks=2)), ("90m", timedelta(minutes=90)),
                                                 (None, None)])
def test_since_durations(value, expected):
    assert parse_since(value) == expected


def test_bad_since_is_named():
    with pytest.raises(ConfigError, match="--since: expected a duration like 7d"):
        parse_since("last week")


def test_cli_config_errors_exit_2_with_one_line(tmp_path):
    cfg = write(tmp_path, "sources:\n  - {name: fb, type: facebook_page, page_id: '1', bse_url: 'http://x'}\n")
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "scanner", "crawl", "--config", str(cfg)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == ("medspa-scan: error: sources.yaml: source 'fb': unknown key 'bse_url' for type "
                                "facebook_page; did you mean 'base_url'?")
    r = subprocess.run([sys.executable, "-m", "scanner", "crawl", "--config", str(cfg), "--since", "soon"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--since" in r.stderr and "Traceback" not in r.stderr
