"""Each connector against a real HTTP server on 127.0.0.1 serving fixture payloads in the platform's real
API shape: what the spa published becomes an item (posts, captions, its own comments and replies, owner
replies to reviews), the public's comments and reviews only ride along as context, and every page of
results is followed (Graph API `paging.next`, Google `nextPageToken`, Atom `rel=next`, sitemap indexes)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from scanner.crawl.config import load_config
from scanner.crawl.sources import SOURCE_TYPES, FetchContext, Http, HttpOptions, SourceError, parse_time
from scanner.crawl.sources._http import origin
from tests.fixtures.crawl.server import TOKEN, FixtureServer, Resp, standard_routes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crawl"


@pytest.fixture()
def srv():
    with FixtureServer() as s:
        standard_routes(s)
        yield s


def read(tmp_path, entry: dict, since: datetime | None = None):
    """Validate one sources.yaml entry like the crawl does, run its connector, return (items by id, ctx)."""
    p = tmp_path / "sources.yaml"
    p.write_text(yaml.safe_dump({"sources": [entry]}))
    src = load_config(p).sources[0]
    st = SOURCE_TYPES[src.type]
    base = src.get("base_url") or st.default_base
    http = Http(HttpOptions(timeout=5, retries=1, backoff=0.01), token=TOKEN if st.uses_token else None,
                api_origin=origin(base) if base else None)
    ctx = FetchContext(src, http, since)
    try:
        items = list(st.fetch(ctx))
    finally:
        http.close()
    return {i.id: i for i in items}, ctx


def test_facebook_page_posts_and_the_pages_own_replies(srv, tmp_path):
    items, ctx = read(tmp_path, {"name": "fb", "type": "facebook_page", "page_id": "lumamedspa",
                                 "base_url": f"{srv.base}/graph"})
    assert list(items) == ["fb:104_1001", "fb:1001_5002", "fb:1001_5004", "fb:1001_5006", "fb:104_1002",
                           "fb:104_1003", "fb:104_1004"]
    post = items["fb:104_1001"]
    assert (post.kind, post.channel, post.permalink) == ("post", "facebook",
                                                         "https://www.facebook.com/lumamedspa/posts/1001")
    assert post.published_at == datetime(2026, 11, 20, 17, 0)
    assert len(post.image_urls) == 1 and "/cdn/promo.png" in post.image_urls[0]  # full_picture == attachment
    reply = items["fb:1001_5002"]  # the page answering Nina: judged, with her comment as context
    assert reply.kind == "comment" and reply.author == "Nina Quinn"
    assert reply.in_reply_to == "Just got my lips done here yesterday, so swollen!"
    assert reply.permalink.endswith("comment_id=5002")
    own = items["fb:1001_5004"]  # the page's own comment under its post answers nobody
    assert own.in_reply_to is None and own.author is None
    assert items["fb:1001_5006"].in_reply_to == "Do you do microneedling?"  # from the 2nd page of comments
    assert not {"fb:1001_5001", "fb:1001_5003", "fb:1001_5005"} & set(items)  # the public's words: context only
    assert [u.rsplit("/", 1)[-1].split("?")[0] for u in items["fb:104_1002"].image_urls] == ["team1.png", "team2.png"]
    video = items["fb:104_1004"]
    assert video.unchecked and "video" in video.unchecked[0] and video.image_urls  # the cover is still checked
    assert srv.hits["/graph/104/posts?after=QVFIUjFwb3N0cw"] == 1  # paging.next followed once, then stopped
    assert all(a == f"Bearer {TOKEN}" for a in srv.auth["/graph/lumamedspa/posts"])
    assert not ctx.warnings


def test_facebook_since_is_sent_and_applied(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "fb", "type": "facebook_page", "page_id": "lumamedspa",
                               "base_url": f"{srv.base}/graph"}, since=datetime(2026, 11, 19))
    assert "fb:104_1002" not in items and "fb:104_1003" not in items  # published before the window
    assert "fb:104_1001" in items and "fb:1001_5006" in items
    assert any("since=1795046400" in line for line in srv.log if "/posts" in line)


def test_instagram_captions_and_the_accounts_own_replies(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "ig", "type": "instagram", "ig_user_id": "17841400000000001",
                               "base_url": f"{srv.base}/graph"})
    assert set(items) == {"ig:18000000000000011", "ig:18000000000000012", "ig:18000000000000013",
                          "ig:17900000000000102", "ig:17900000000000104", "ig:17900000000000106"}
    cap = items["ig:18000000000000011"]
    assert cap.kind == "post" and cap.channel == "instagram" and cap.text.startswith("Transformation Tuesday")
    assert cap.permalink == "https://www.instagram.com/p/C0aaaaaaaaa/"
    reply = items["ig:17900000000000102"]
    assert reply.kind == "comment" and reply.author == "@tess.m" and reply.in_reply_to == "Thanks for the shoutout!! 😍"
    assert items["ig:17900000000000106"].in_reply_to is None  # its own comment, from the 2nd page of comments
    carousel = items["ig:18000000000000012"]
    assert [u.split("/cdn/")[1].split("?")[0] for u in carousel.image_urls] == ["m2a.png", "m2b.png"]
    reel = items["ig:18000000000000013"]
    assert reel.image_urls[0].split("/cdn/")[1].startswith("m3-cover.png") and reel.unchecked
    assert "/graph/18000000000000012/comments" not in srv.hits  # comments_count 0: not asked
    assert srv.hits["/graph/17841400000000001/media?after=TUVESUEy"] == 1


def test_google_business_owner_replies_with_the_review_as_context(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "g", "type": "google_business", "account_id": "111", "location_id": "222",
                               "base_url": f"{srv.base}/gbp",
                               "permalink_template": "https://maps.example/luma/reviews#{review_id}"})
    assert list(items) == ["g:AbFvOqn1", "g:AbFvOqn2", "g:AbFvOqn4", "g:AbFvOqn5"]  # g3 has no reply: nothing
    amy = items["g:AbFvOqn1"]
    assert (amy.kind, amy.channel, amy.author) == ("reply", "google", "Amy Tran")
    assert amy.in_reply_to == "Got my lip filler with Taylor, obsessed with the results!"
    assert amy.text.startswith("So glad you loved your lip filler")
    assert amy.permalink == "https://maps.example/luma/reviews#AbFvOqn1"
    assert items["g:AbFvOqn4"].author is None  # anonymous reviewer
    assert items["g:AbFvOqn5"].in_reply_to is None  # a rating without words
    assert srv.hits["/gbp/accounts/111/locations/222/reviews?pageToken=CiAKGAoSCgw"] == 1
    assert any("orderBy=updateTime+desc" in line or "orderBy=updateTime%20desc" in line for line in srv.log)


def test_google_business_default_permalink_is_the_review_resource(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "g", "type": "google_business", "account_id": "111", "location_id": "222",
                               "base_url": f"{srv.base}/gbp"})
    assert items["g:AbFvOqn2"].permalink == f"{srv.base}/gbp/accounts/111/locations/222/reviews/AbFvOqn2"


def test_rss_entries_with_html_bodies_alt_text_and_pictures(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "blog", "type": "rss", "url": f"{srv.base}/blog/feed.xml"})
    peel, spot = items["blog:lumamedspa-blog-101"], items["blog:lumamedspa-blog-102"]
    assert peel.text.splitlines()[0] == "Chemical peels 101: what to expect"
    assert "A bottle of sunscreen on a towel" in peel.text  # alt text is published text too
    assert peel.image_urls == [f"{srv.base}/cdn/blog1.png"]  # media:content and <img> are the same picture
    assert peel.permalink == "https://lumamedspa.com/blog/peels-101" and peel.channel == "website"
    assert peel.published_at == datetime(2026, 11, 19, 15, 0)
    assert "Maria Lopez before and after" in spot.text
    assert spot.image_urls == [f"{srv.base}/cdn/spotlight.png"]  # lazy-loaded data-src, not the placeholder
    assert spot.unchecked and "video" in spot.unchecked[0]  # the video enclosure


def test_atom_feed_follows_rel_next(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "news", "type": "rss", "url": f"{srv.base}/blog/atom.xml", "channel": "facebook"})
    texts = [i.text for i in items.values()]
    assert len(items) == 2 and texts[1] == "Welcome, Dr. Ana Silva\nOur new medical director, Dr. Ana Silva, joins us this month."
    assert all(i.channel == "facebook" for i in items.values())
    assert items["news:urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"].permalink == "https://lumamedspa.com/news/gift-cards"


@pytest.mark.parametrize(("body", "message"), [
    (b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaa'>]><rss>&a;</rss>", "declares XML entities"),
    (b"<html><body>Not a feed</body></html>", "not an RSS or Atom feed"),
    (b"<rss><channel><item>", "not valid XML"),
])
def test_bad_feeds_fail_with_a_clear_message(srv, tmp_path, body, message):
    srv.route("/bad.xml", Resp(200, body, "application/xml"))
    with pytest.raises(SourceError, match=message):
        read(tmp_path, {"name": "b", "type": "rss", "url": f"{srv.base}/bad.xml"})


def test_website_from_a_sitemap_index(srv, tmp_path):
    items, ctx = read(tmp_path, {"name": "site", "type": "website", "url": f"{srv.base}/sitemap_index.xml"})
    assert list(items) == [f"site:{srv.base}/index.html", f"site:{srv.base}/stories.html", f"site:{srv.base}/about.html"]
    home = items[f"site:{srv.base}/index.html"]
    assert home.kind == "post" and home.channel == "website" and home.permalink == f"{srv.base}/index.html"
    assert "not visible text" not in home.text and "enable JavaScript" not in home.text  # script, noscript
    assert home.text.startswith("Luma Med Spa | Austin\nInjectables, lasers and facials in Austin.")
    assert home.image_urls == [f"{srv.base}/cdn/promo.png", f"{srv.base}/cdn/logo.svg"]  # og:image, <img>
    stories = items[f"site:{srv.base}/stories.html"]
    assert "Jennifer Wu before and after her second filler session" in stories.text
    assert stories.image_urls == [f"{srv.base}/cdn/ba.png?w=1080"]  # the widest srcset candidate
    assert stories.published_at == datetime(2026, 11, 19)
    warned = sorted(ctx.warnings)  # pages are fetched in parallel: either may warn first
    assert len(warned) == 2 and "application/pdf, not HTML" in warned[0] and "HTTP 404" in warned[1]
    assert ctx.unreadable == {f"site:{srv.base}/price-list.pdf", f"site:{srv.base}/old-page.html"}


def test_website_since_uses_sitemap_lastmod(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "site", "type": "website", "url": f"{srv.base}/sitemap-pages.xml"},
                    since=datetime(2026, 11, 10))
    assert f"site:{srv.base}/index.html" not in items  # lastmod 2026-11-01
    assert f"site:{srv.base}/stories.html" in items and f"site:{srv.base}/about.html" in items  # no lastmod: read


def test_website_from_a_url_list_and_from_one_page(srv, tmp_path):
    items, _ = read(tmp_path, {"name": "w", "type": "website", "urls": [f"{srv.base}/about.html"]})
    assert list(items) == [f"w:{srv.base}/about.html"]
    one, _ = read(tmp_path, {"name": "w", "type": "website", "url": f"{srv.base}/stories.html"})
    assert list(one) == [f"w:{srv.base}/stories.html"] and srv.hits["/stories.html"] == 1  # fetched once


def test_file_export_jsonl_reports_bad_lines_and_keeps_the_rest(tmp_path):
    items, ctx = read(tmp_path, {"name": "tt", "type": "file", "path": str(FIXTURES / "file" / "export.jsonl")})
    assert list(items) == ["tt:7301", "tt:7302", "tt:7305"]
    c = items["tt:7302"]
    assert (c.kind, c.channel, c.author, c.in_reply_to) == ("comment", "tiktok", "@jessie.k", "just got mine done here!!")
    assert items["tt:7305"].channel == "yelp"
    assert ctx.warnings == ["export.jsonl line 3: unknown kind 'tweet' (expected post, reply, comment, message); row skipped",
                            "export.jsonl line 4: not valid JSON (column 73); row skipped"]


def test_file_export_csv_and_local_images(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "export.csv").write_text(
        "id,kind,channel,text,images,image_urls\n"
        "a,post,instagram,Spring specials,pics/one.png,https://cdn.example/x.jpg;https://cdn.example/y.jpg\n",
        encoding="utf-8")
    items, _ = read(tmp_path, {"name": "ex", "type": "file", "path": "export.csv"})
    a = items["ex:a"]
    assert a.images == [str((tmp_path / "pics" / "one.png").resolve())]
    assert a.image_urls == ["https://cdn.example/x.jpg", "https://cdn.example/y.jpg"]


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-20T17:00:00+0000", datetime(2026, 11, 20, 17)),  # Graph API
    ("2026-11-19T16:00:00Z", datetime(2026, 11, 19, 16)),  # Google
    ("2026-11-19T10:00:00-06:00", datetime(2026, 11, 19, 16)),
    ("Thu, 19 Nov 2026 15:00:00 +0000", datetime(2026, 11, 19, 15)),  # RSS
    ("2026-11-19", datetime(2026, 11, 19)),  # sitemap lastmod
    (1795046400, datetime(2026, 11, 19)),
    ("not a date", None), ("", None), (None, None),
])
def test_parse_time_gives_naive_utc(value, expected):
    assert parse_time(value) == expected
