"""A real browser (Debian's chromium driven by Playwright) against a real `streamlit run`: log in,
pre-check a violating reply, see `block`, approve an item in the queue, screenshot every page."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "screenshots"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]
REPLY = ("Thanks Sarah! So glad you loved your lip filler, see you at your touch-up! Taylor says hi, and "
         "remember to keep icing it tonight. We loved having you in the chair and can't wait for your next "
         "appointment with us. Your results look amazing already and we know you will love them even more!")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser-home")
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "dashboard", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(url + "/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield url, home
    proc.terminate()
    proc.wait(timeout=20)


def test_login_precheck_block_and_approve(dashboard):
    from playwright.sync_api import expect, sync_playwright

    url, home = dashboard
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("textbox", name="User name").fill("manager")
        page.get_by_role("textbox", name="Password").fill("demo-compliance")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Pre-check a draft")).to_be_visible(timeout=120_000)
        page.screenshot(path=SHOTS / "precheck-empty.png")

        page.get_by_label("Draft text").fill(REPLY)
        page.get_by_label("The review or comment it answers (optional)").fill("Got lip filler here, obsessed")
        page.get_by_label("Reviewer or recipient name (optional)").fill("Sarah K.")
        page.get_by_role("button", name="Check").click()
        expect(page.get_by_text("BLOCK")).to_be_visible(timeout=120_000)  # first check also warms the models
        # a second check, models warm: time from click to verdict
        page.get_by_label("Draft text").fill(REPLY.replace("Sarah", "Sara"))
        t = time.perf_counter()
        page.get_by_role("button", name="Check").click()
        expect(page.locator("mark").filter(has_text=re.compile(r"^Sara$"))).to_be_visible(timeout=60_000)
        expect(page.get_by_text("BLOCK")).to_be_visible(timeout=60_000)
        seconds = time.perf_counter() - t
        print(f"\nclick-to-verdict for a {len(REPLY)}-character reply, models warm: {seconds:.2f} s")
        page.screenshot(path=SHOTS / "precheck-block.png", full_page=True)

        page.get_by_role("link", name="Review queue").click()
        expect(page.get_by_role("heading", name="Review queue")).to_be_visible(timeout=60_000)
        page.locator("[data-testid='stExpander']").first.click()
        page.get_by_role("button", name="Approve").first.click()
        expect(page.get_by_text("Approved.")).to_be_visible(timeout=60_000)
        page.screenshot(path=SHOTS / "queue.png", full_page=True)
        for name in ("Published scans", "Registry", "Audit log", "Rules"):
            page.get_by_role("link", name=name).click()
            page.wait_for_timeout(1500)
            page.screenshot(path=SHOTS / f"{name.lower().replace(' ', '-')}.png", full_page=True)
        browser.close()
    from scanner import audit
    from scanner.store import Store

    entries = audit.entries(Store(f"sqlite:///{home / 'medspa.db'}"))
    assert any(e["action"] == "review.approve" and e["actor"] == "manager" for e in entries)
    assert seconds < 10  # the figure is printed; this only catches a hang
