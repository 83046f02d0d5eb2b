"""Shared dashboard plumbing: the cached store, scanner and rule pack (models load once per process,
warmed while the user logs in), log-in, sessions that survive a reload (signed cookie), the per-page
role check and the pieces several pages draw (Copy button, face boxes, untrusted text for markdown;
findings in words are in _explain.py). No scanning logic lives here: every
read and write goes through `scanner`'s public functions."""
from __future__ import annotations

import base64
import html
import io
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import streamlit as st

from scanner import Store
from scanner.core import config
from scanner.review import accounts, retention, sessions

REVIEWERS = accounts.REVIEWER_ROLES  # compliance, admin
ALL_ROLES = accounts.ROLES
LOGIN_FAIL_DELAY = 0.5  # seconds every failed log-in costs, on top of the account lock-out

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
_LOADING: dict[str, Future[Any]] = {}


# -- cached resources --------------------------------------------------------------------------------
def db_url() -> str:
    return config.database_url()


@st.cache_resource(show_spinner=False)
def get_store(url: str | None = None) -> Store:
    return Store(url or db_url())


def _build_scanner(url: str) -> Any:
    from scanner import Scanner

    return Scanner(store=get_store(url))


def warm_scanner(url: str | None = None) -> None:
    """Start loading the models in the background (called on the log-in page) if not already."""
    url = url or db_url()
    if url not in _LOADING:
        _LOADING[url] = _POOL.submit(_build_scanner, url)


@st.cache_resource(show_spinner="Loading the language models (once per server)…")
def get_scanner(url: str | None = None) -> Any:
    url = url or db_url()
    warm_scanner(url)
    try:
        return _LOADING[url].result()
    except Exception:
        _LOADING.pop(url, None)  # let the next page view try again
        raise


@st.cache_resource(show_spinner=False)
def get_rule_pack() -> Any:
    from scanner import load_rule_pack

    return load_rule_pack()


def store() -> Store:
    return get_store(db_url())


# -- log-in and sessions -----------------------------------------------------------------------------
def current_user() -> tuple[str, str] | None:
    """(name, role) of the logged-in user, or None. A reload or a typed address resumes the session from its
    signed cookie; the session ends after the idle timeout, on log-out, and when the user was removed or
    disabled; a changed role counts on the next page view."""
    user = st.session_state.get("user")
    cookie = st.context.cookies.get(sessions.COOKIE) if st.context.cookies else None
    if not user and cookie:
        user = sessions.resolve(store(), cookie)
        if user:
            st.session_state.update(user=user, token=cookie, last_seen=time.time())
    if not user:
        return None
    token = st.session_state.get("token")
    if token:
        if sessions.resolve(store(), token) is None:
            logout("Your session ended; please log in again.")
            return None
    elif accounts.session_expired(st.session_state.get("last_seen")):
        logout("Your session timed out; please log in again.")
        return None
    role = accounts.role_of(store(), user)
    if role is None or sessions.is_disabled(store(), user):
        logout("Your account no longer exists." if role is None else "Your account was disabled.")
        return None
    st.session_state["role"] = role
    st.session_state["last_seen"] = time.time()
    return user, role


def logout(message: str | None = None) -> None:
    """End the session (its cookie is worthless from now on and is removed from the browser)."""
    sessions.end(store(), st.session_state.get("token"))
    for k in list(st.session_state.keys()):
        del st.session_state[k]
    st.session_state["cookie_script"] = ""
    if message:
        st.session_state["flash"] = message


def cookie_script() -> None:
    """Set or clear the session cookie in the browser when a log-in or log-out asked for it."""
    value = st.session_state.pop("cookie_script", None)
    if value is None:
        return
    age = sessions.MAX_HOURS * 3600 if value else 0
    st.html(f"<script>document.cookie='{sessions.COOKIE}={value}; path=/; max-age={age}; SameSite=Strict';</script>",
            unsafe_allow_javascript=True)


def require(*roles: str) -> tuple[str, str]:
    """Stop the page unless a user with one of `roles` is logged in (every page calls this itself)."""
    who = current_user()
    if who is None:
        st.warning("Please log in.")
        st.stop()
    assert who is not None
    if who[1] not in roles:
        st.error("You do not have access to this page.")
        st.stop()
    return who


def login_page() -> None:
    warm_scanner()  # the models load while the user types
    cookie_script()
    st.title("MedSpa Compliance Scanner")
    st.caption("Check posts, review replies, images and messages for patient information before they go out.")
    if msg := st.session_state.pop("flash", None):
        st.info(msg)
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", type="primary")
    if not submitted:
        return
    try:
        role = accounts.authenticate(store(), name, password, address=st.context.ip_address)
    except accounts.LockedOut as exc:
        st.error(str(exc))
        return
    if role is None:
        time.sleep(LOGIN_FAIL_DELAY)
        st.error("Wrong user name or password.")
        return
    if sessions.is_disabled(store(), name.strip()):
        st.error("This account is disabled; ask an administrator.")
        return
    token = sessions.issue(store(), name.strip())
    st.session_state.update(user=name.strip(), role=role, last_seen=time.time(), token=token, cookie_script=token)
    st.rerun()


# -- drawing -----------------------------------------------------------------------------------------
def compact_top() -> None:
    """Less empty space above the title, so a result fits the first screen of a laptop."""
    st.html("<style>.block-container{padding-top:2.2rem !important;padding-bottom:2rem}"
            "h1{padding-top:0.2rem !important}</style>")


def copy_button(text: str, label: str = "Copy") -> None:
    """A visible Copy button (not hover-only, works on a phone) that puts `text` on the clipboard."""
    import json

    payload = json.dumps(text).replace("<", "\\u003c")  # nothing in the text can close the script
    st.iframe(
        "<button id='c' style='font:14px sans-serif;padding:7px 14px;border:1px solid #adb5bd;border-radius:8px;"
        "background:#fff;cursor:pointer;width:100%'>" + html.escape(label) + "</button><script>"
        f"const t={payload};const b=document.getElementById('c');b.onclick=async()=>{{"
        "try{await navigator.clipboard.writeText(t);}catch(e){const a=document.createElement('textarea');"
        "a.value=t;document.body.appendChild(a);a.select();document.execCommand('copy');a.remove();}"
        "b.textContent='Copied';setTimeout(()=>{b.textContent='" + html.escape(label) +
        "'},2000);};</script>", height=44)


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:")


def md(value: Any) -> str:
    """Untrusted text (drafts, evidence, names) for st.markdown: no links, emphasis, HTML or LaTeX ($)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in str(value)).replace("\n", " ")


def image_with_boxes(path: str, findings: list[dict[str, Any]]) -> None:
    """The image with a box on every face (red: needs attention, green: authorized/advisory)."""
    p = Path(path)
    if not p.is_file():
        st.caption(f"Image {p.name} is no longer available.")
        return
    from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:  # HEIC support is optional for display
        pass
    try:  # uploads are sealed on disk: decrypted in memory only
        im = ImageOps.exif_transpose(Image.open(io.BytesIO(retention.read_upload(p)))).convert("RGB")
    except (UnidentifiedImageError, OSError, RuntimeError):
        st.caption(f"Image {p.name} cannot be displayed.")
        return
    draw = ImageDraw.Draw(im)
    boxes = 0
    for f in findings:
        box = f.get("box")
        if box and len(box) == 4 and f.get("source") == f"image:{p.name}":
            ok = f.get("severity") in ("info", "low") or f.get("waived")
            draw.rectangle([int(v) for v in box], outline="#2f9e44" if ok else "#e03131", width=max(3, im.width // 150))
            boxes += 1
    # sent inside the page (a data: URI over the session's websocket), not through /media, which would
    # serve the picture to anyone holding its address, logged in or not
    im.thumbnail((1040, 1040))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    caption = html.escape(f"{p.name}: {boxes} face{'s' if boxes != 1 else ''} marked (red: needs attention, "
                          "green: authorized)")
    st.html(f'<figure style="margin:0"><img alt="{caption}" style="max-width:min(100%,520px)" '
            f'src="data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}">'
            f'<figcaption style="font-size:0.85em;opacity:0.7">{caption}</figcaption></figure>')
