"""A real browser (Debian's chromium driven by Playwright) against a real `medspa-scan dashboard` (streamlit
run) on a free 127.0.0.1 port, page by page and role by role:

* marketer: the pre-check's first screen at 1366x768 shows the verdict sentence, the highlighted draft and
  the safe replacement's Copy button without scrolling (300-character reply, three problems); Copy puts the
  safe text on the clipboard; "Use this text" checks it again and it passes; submit for approval; a reload
  keeps the session; the registry cannot be reached by its address;
* manager: the queue opens the submitted item by its link (and again after a reload), sends it back with
  the safe text, approves 60 command-line items in one action and opens a queue of 300+ open items;
  published scans drill down by clicking a bar; registry, audit log; log-out ends the session;
* admin: the Users page.

Full-page screenshots of every page land in tests/screenshots/ (the folder is printed). Prints the
click-to-verdict time, the queue's opening time and the time to approve 60 items. The helpers here are
reused by bench/bench_dashboard.py."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
SHOTS = ROOT / "tests" / "screenshots"
VIOLATING = "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!"
NAMES = ("Megan", "Olivia", "Hannah", "Chloe", "Brooke", "Jenna", "Tessa", "Nora", "Paige", "Ruby", "Avery")
BULK = 60
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="Debian chromium (/usr/bin/chromium) is not installed: apt-get install chromium")]


def reply_300(name: str) -> str:
    """A 300-character Google reply with three problems: it names the reviewer, confirms her lip filler and
    her touch-up visit (block); the rest is warm and harmless."""
    text = (f"Thanks {name}! So glad you loved your lip filler results, see you at your touch-up! We read every "
            "single review and our whole team smiled at this one. Kind words like these mean the world to a small "
            "local business like ours, and we share them at our Monday team meeting. Have a wonderful week and "
            "enjoy the sunshine!")
    return (text + " " * 300)[:300]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_dashboard(home: Path, timeout: float = 240) -> Iterator[tuple[str, str]]:
    """`medspa-scan dashboard --demo --port P` on an empty data home: yields (url, its console output so far)."""
    port = free_port()
    log_path = home / "dashboard.log"
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home), PYTHONUNBUFFERED="1")
    env.pop("MEDSPA_SCAN_DB", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "scanner", "dashboard", "--demo", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(url + "/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not answer within {timeout} s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield url, log_path.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": width, "height": height})
            yield ctx.new_page()
        finally:
            browser.close()


def dismiss_dialog(page: Any) -> bool:
    from playwright.sync_api import expect

    dialog = page.get_by_role("dialog")
    if dialog.count():  # "page not found" for an address this (logged-out) session has no page for
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        return True
    return False


def log_in(page: Any, url: str, name: str, password: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("textbox", name="User name")).to_be_attached(timeout=60_000)
    page.wait_for_timeout(500)
    dismiss_dialog(page)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Pre-check a draft")).to_be_visible(timeout=60_000)


def check(page: Any, text: str, name: str, author: str = "", timeout_ms: int = 180_000) -> float:
    """Fill the pre-check form, click Check and wait until this draft's verdict sentence is shown (naming
    the reviewer). Returns the seconds from the click to the verdict."""
    from playwright.sync_api import expect

    page.get_by_label("Draft text").fill(text)
    page.get_by_label("Reviewer or recipient name (optional)").fill(author)
    button = page.get_by_role("button", name="Check")
    t = time.perf_counter()
    button.click()
    expect(page.get_by_text(f"Don't post: it names {name}", exact=False)).to_be_visible(timeout=timeout_ms)
    expect(page.locator("mark").filter(has_text=name).first).to_be_visible(timeout=timeout_ms)
    return time.perf_counter() - t


def warm_check_times(page: Any, runs: int) -> list[float]:
    return [check(page, reply_300(NAMES[i % len(NAMES)]), NAMES[i % len(NAMES)], f"{NAMES[i % len(NAMES)]} W.")
            for i in range(runs)]


def shot(page: Any, name: str, full_page: bool = True) -> None:
    """Save a screenshot; a full-page one grows the window to the page's height first (Streamlit scrolls
    inside its main section, so the browser's own full-page capture would stop at the window)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(600)  # let charts and images finish drawing
    size = page.viewport_size
    if full_page:
        height = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
                               "[data-testid=stMainBlockContainer], body')].map(e => e.scrollHeight))")
        page.set_viewport_size({"width": size["width"], "height": min(max(height + 40, size["height"]), 8000)})
        page.wait_for_timeout(700)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=full_page)
    if full_page:
        page.set_viewport_size(size)
        page.wait_for_timeout(300)


def in_first_screen(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def fill_queue(home: Path, n: int, channel: str = "google", source: str = "api") -> None:
    """n open items (300-character replies scanned for real) in the dashboard's store."""
    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    from scanner import Item, Scanner, Store

    store = Store()
    items = [Item(id=f"bulk-{channel}-{i}", kind="reply", channel=channel, text=reply_300(NAMES[i % len(NAMES)]))
             for i in range(n)]
    results = list(Scanner(store=store).scan_many(items))
    run = store.start_run(source, actor="bench")
    store.save_results(run, list(zip(items, results, strict=True)), source=source, submitted_by="bench")
    store.finish_run(run, {"items": n})


def open_queue(page: Any) -> float:
    """Click "Review queue" in the menu and wait for its table; returns the seconds it took."""
    from playwright.sync_api import expect

    t = time.perf_counter()
    page.get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("item(s)", exact=False).first).to_be_visible(timeout=60_000)
    return time.perf_counter() - t


def select(page: Any, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def approve_all_shown(page: Any, expected: int, reason: str) -> float:
    """Tick "Select all", give one reason, click "Approve N"; returns the seconds until it is done."""
    from playwright.sync_api import expect

    page.get_by_text(f"Select all {expected}", exact=True).click()
    page.get_by_label("One reason for all of them", exact=False).fill(reason)
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name=f"Approve {expected}")
    expect(button).to_be_visible(timeout=30_000)
    t = time.perf_counter()
    button.click()
    expect(page.get_by_text(f"Approved {expected} item(s).")).to_be_visible(timeout=120_000)
    return time.perf_counter() - t


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser-home")
    with running_dashboard(home) as (url, console):
        print(f"\nscreenshots: {SHOTS}")
        yield url, home, console


def test_dashboard_command_prints_address_and_demo_logins(dashboard):
    url, _, console = dashboard
    port = url.rsplit(":", 1)[1]
    assert f"Dashboard: http://localhost:{port}" in console
    assert "manager / demo-compliance (compliance)" in console and "marketer / demo-marketing" in console


def test_marketer_precheck_first_screen_copy_use_submit_and_reload(dashboard):
    from playwright.sync_api import expect

    url, home, _ = dashboard
    with browser_page(1366, 768) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        page.goto(url)
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
        shot(page, "login")
        log_in(page, url, "marketer", "demo-marketing")
        shot(page, "precheck-empty")
        check(page, VIOLATING, "Sarah", "Sarah K.")  # the first check may still wait for the models
        times = warm_check_times(page, 5)
        print(f"\nclick-to-verdict, 300-character reply, warm models: median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s over {len(times)} checks ({', '.join(f'{t:.2f}' for t in times)})")

        text = reply_300("Megan")
        assert len(text) == 300
        check(page, text, "Megan", "Megan W.")
        page.evaluate("window.scrollTo(0, 0)")
        sentence = page.get_by_text("Don't post: it names Megan and confirms their lip filler", exact=False)
        draft = page.locator("[data-testid='draft-highlighted']")
        copy = page.frame_locator("iframe").last.get_by_role("button", name="Copy")
        expect(copy).to_be_visible(timeout=30_000)
        assert draft.locator("mark").count() == 3  # three problems, three marks
        for what in (sentence, draft, page.locator("iframe").last):
            assert in_first_screen(page, what), f"{what} is not on the first 1366x768 screen"
        shot(page, "precheck-block-first-screen", full_page=False)
        shot(page, "precheck-block")
        safe = page.locator("[data-testid='safe-text']").inner_text()
        copy.click()
        expect(page.frame_locator("iframe").last.get_by_text("Copied")).to_be_visible(timeout=10_000)
        assert page.evaluate("navigator.clipboard.readText()") == safe
        assert "Megan" not in safe and "filler" not in safe

        page.get_by_role("button", name="Use this text").click()
        expect(page.get_by_text("Good to go", exact=False)).to_be_visible(timeout=60_000)
        assert page.get_by_label("Draft text").input_value() == safe
        shot(page, "precheck-pass")

        check(page, VIOLATING, "Sarah", "Sarah K.")
        page.get_by_text("Need it as written? Submit it for approval").click()
        page.get_by_label("Note for the reviewer (optional)").fill("browser test: please look")
        page.get_by_role("button", name="Submit for approval").click()
        expect(page.get_by_text("Submitted to the compliance review queue")).to_be_visible(timeout=60_000)

        page.reload()  # the session survives a reload: no log-in form, no "page not found"
        expect(page.get_by_role("heading", name="Pre-check a draft")).to_be_visible(timeout=60_000)
        assert page.get_by_role("button", name="Log in").count() == 0
        expect(page.get_by_text("Signed in as marketer", exact=False)).to_be_visible()

        expect(page.get_by_role("link", name="Registry")).to_have_count(0)
        expect(page.get_by_role("link", name="Review queue")).to_have_count(0)
        page.goto(url + "/registry")  # typed address: the session is back, the page is still not hers
        page.wait_for_timeout(3000)
        dismiss_dialog(page)
        body = page.locator("body").inner_text()
        assert "Authorization registry" not in body
        for secret in ("Camila", "D001", "@cami.glow", "Ruby Chen"):
            assert secret not in body
        shot(page, "marketing-registry-address")


def test_manager_queue_links_send_back_bulk_approve_scans_registry_audit_logout(dashboard):
    from playwright.sync_api import expect

    from scanner import Store
    from scanner.core import audit
    from scanner.review import queue as review

    url, home, _ = dashboard
    fill_queue(home, BULK, channel="tiktok", source="cli")
    fill_queue(home, 240, channel="google", source="api")
    store = Store(f"sqlite:///{home / 'medspa.db'}")
    if not any(i["submitted_by"] == "marketer" and i["kind"] == "reply" for i in review.queue(store, source="dashboard")):
        # the marketer's test submits this draft with its note; under xdist it may run in another process
        from scanner import Item, Scanner

        item = Item(id="browser-submit", kind="reply", channel="google", text=reply_300("Megan"), author="Megan W.")
        _result, submitted = review.precheck(Scanner(store=store), store, item, "marketer")
        review.submit(store, submitted, "marketer", "browser test: please look")
    open_items = sum(review.counts(store).values())
    assert open_items >= 300
    with browser_page(1400, 1000) as page:
        log_in(page, url, "manager", "demo-compliance")
        opened = open_queue(page)
        print(f"\nopen the review queue with {open_items} open items: {opened:.2f} s")
        expect(page.get_by_text(f"{open_items} item(s)", exact=False)).to_be_visible()
        shot(page, "queue")

        pk = review.queue(store, source="dashboard")[0]["pk"]
        page.goto(f"{url}/queue?item={pk}")  # a link to one item, in a fresh page load
        expect(page.get_by_text("Note from the submitter", exact=False)).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Note from the submitter: browser test: please look")).to_be_visible()
        page.reload()
        expect(page.get_by_text("Note from the submitter: browser test: please look")).to_be_visible(timeout=60_000)
        send_back = page.get_by_role("button", name="Send back with the safe text")
        expect(send_back).to_be_visible()
        shot(page, "queue-item")
        send_back.click()
        expect(page.get_by_text("Sent back 1 item(s).")).to_be_visible(timeout=60_000)
        assert review.get_item(store, pk)["status"] == "rejected"

        page.goto(f"{url}/queue")
        expect(page.get_by_role("heading", name="Review queue")).to_be_visible(timeout=60_000)
        select(page, "Source", "command line")
        select(page, "Channel", "tiktok")
        expect(page.get_by_text(f"{BULK} item(s)", exact=False)).to_be_visible(timeout=60_000)
        took = approve_all_shown(page, BULK, "old TikTok replies, never posted")
        print(f"approve {BULK} items in one action: {took:.2f} s")
        shot(page, "queue-after-bulk")
        assert not review.queue(store, source="cli", channel="tiktok")
        approvals = [e for e in audit.entries(store, action="review.approve", limit=500) if e["actor"] == "manager"]
        assert len(approvals) >= BULK

        page.get_by_role("link", name="Published scans").click()
        expect(page.get_by_role("heading", name="Published scans")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(2500)
        shot(page, "scans")
        chart = page.locator("[data-testid='stVegaLiteChart']").first
        box = chart.bounding_box()
        assert box is not None
        before = page.get_by_text("item(s)", exact=False).first.inner_text()
        for dy in range(40, int(box["height"]) - 40, 12):  # click the first bar (its y is not known in advance)
            page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + dy)
            page.wait_for_timeout(700)
            if "· problem" in page.get_by_text("item(s)", exact=False).first.inner_text():
                break
        after = page.get_by_text("item(s)", exact=False).first.inner_text()
        assert "· problem" in after and after != before, (before, after)
        shot(page, "scans-drilldown")

        for link, heading, name in (("Registry", "Authorization registry", "registry"),
                                    ("Audit log", "Audit log", "audit"), ("Rules", "Rules", "rules")):
            page.get_by_role("link", name=link).click()
            expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1500)
            shot(page, name)
        assert any(e["action"] == "review.send_back" and e["actor"] == "manager" for e in audit.entries(store))

        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_text("You are logged out.")).to_be_visible(timeout=60_000)
        page.reload()
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)


def test_admin_users_page(dashboard):
    from playwright.sync_api import expect

    url, _, _ = dashboard
    with browser_page() as page:
        log_in(page, url, "admin", "demo-admin-pass")
        page.get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", name="Users")).to_be_visible(timeout=60_000)
        page.get_by_label("User name").fill("browser-nina")
        page.get_by_label("Password (8 characters or more)").fill("nina-password")
        page.get_by_label("Password again").fill("nina-password")
        page.get_by_role("button", name="Add user").click()
        expect(page.get_by_text("Added browser-nina (marketing).")).to_be_visible(timeout=60_000)
        shot(page, "users")
