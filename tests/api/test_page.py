"""The web chat page end to end in headless Chromium (Debian's package, driven by Playwright; no `playwright
install`): ask, watch cards stream in, like one, refine, see the answer respect it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import private_items
from ragrec.api import create_app
from ragrec.events.log import EventLog
from ragrec.recommender import Recommender
from tests.api.conftest import CLIENT, api_settings, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium on a machine without network: no background connections, no sandbox (root in a container)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture
def page_server(demo, embedder, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make test installs Debian's chromium with apt when run as root)")
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    base, store, _ = demo
    items = private_items(store)
    settings = api_settings(base, items, tmp_path)
    rec = Recommender(settings, store=store, log=EventLog(settings.events_url), embedder=embedder)
    try:
        with serving(create_app(settings, recommender=rec)) as url:
            yield url, rec
    finally:
        rec.log.close()
        for name in (settings.users_collection, items):
            store.drop_collection(name)


def test_chat_page_streams_cards_takes_feedback_and_refines(page_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, rec = page_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            expect(page).to_have_title("ragrec chat")
            page.fill("#key", CLIENT)
            page.dispatch_event("#key", "change")
            page.fill("#user", "page-user")
            page.dispatch_event("#user", "change")

            page.fill("#message", "something like Toy Story")
            page.click("#send")
            first = page.locator(".turn").nth(0)
            expect(first.locator(".chip")).to_have_text(["like: Toy Story (1995)"])
            expect(first.locator(".card")).to_have_count(6, timeout=60_000)
            expect(first.locator(".description.pending")).to_have_count(0, timeout=60_000)
            expect(first.locator(".answer")).to_contain_text("picks like Toy Story", timeout=60_000)
            titles = first.locator(".card .title").all_inner_texts()
            # the `none` backend's template descriptions, without the title and the reason the card already shows
            for title, text in zip(titles, first.locator(".card .description").all_inner_texts(), strict=True):
                assert text[:2] in ("A ", "An") and title.split(" (")[0] not in text[:60], (title, text)

            liked = first.locator(".card").nth(0)
            liked_id = liked.get_attribute("data-item-id")
            liked.locator(".like").click()
            expect(liked.locator(".like")).to_have_class("like sent", timeout=30_000)
            expect(liked.locator(".dislike")).to_be_disabled()  # one opinion per card

            page.fill("#message", "but not animated")
            page.click("#send")
            second = page.locator(".turn").nth(1)
            expect(second.locator(".chip")).to_have_text(["not: Animation", "like: Toy Story (1995)"])
            expect(second.locator(".card")).to_have_count(6, timeout=60_000)
            expect(second.locator(".answer")).to_contain_text("not Animation", timeout=60_000)
            metas = second.locator(".card .meta").all_inner_texts()
            assert metas and not any("Animation" in m for m in metas), metas
            assert not set(titles) & set(second.locator(".card .title").all_inner_texts())
            page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        finally:
            browser.close()
    events = rec.log.user_events("page-user")  # the like went through the API, with its recommendation id
    assert [(e.item_id, e.type.value) for e in events] == [(liked_id, "like")] and events[0].recommendation_id
    assert (tmp_path / "chat.png").stat().st_size > 10_000


def _sse(*events) -> str:
    import json

    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def test_a_cut_off_answer_a_refused_like_and_a_long_title_are_shown_as_such(page_server):
    """What the server (or a proxy) can do to the page, answered for real by Playwright's routing: a stream that
    ends before its `done` event, a 200 from /v1/feedback that refused the event, a 400-character title."""
    from playwright.sync_api import expect, sync_playwright

    url, _ = page_server
    long_title = "A" * 400
    item = {"item_id": "x1", "payload": {"title": long_title, "year": 1999, "genres": ["Drama"]}, "text": "",
            "evidence": [], "score": 1.0, "path": "content"}
    heat = {"item_id": "x2", "payload": {"title": "Heat (1995)", "year": 1995, "genres": ["Crime"]}, "text": "",
            "evidence": [{"kind": "liked", "item_id": "x3", "title": "Ronin (1998)", "similarity": 0.5}],
            "score": 0.9, "path": "hybrid"}
    template = "Because you liked Ronin: Heat (1995), a crime movie about heist."
    # two items and one description, and then nothing: no "done"
    cut = _sse(("constraints", {"conversation_id": "c1", "chips": ["about: x"]}),
               ("item", {"rank": 1, "recommendation_id": "r1", "item": item}),
               ("item", {"rank": 2, "recommendation_id": "r1", "item": heat}),
               ("description", {"item_id": "x2", "description": template, "description_source": "template"}))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.route("**/v1/chat", lambda route: route.fulfill(status=200, body=cut,
                                                                  headers={"content-type": "text/event-stream"}))
            refused = {"accepted": 0, "duplicates": 0, "rejected": [{"index": 0, "reason": "unknown item x1"}]}
            page.route("**/v1/feedback", lambda route: route.fulfill(status=200, json=refused))
            alerts = []
            page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
            page.goto(url)
            page.fill("#user", "page-user")
            page.fill("#message", "x")
            page.click("#send")
            turn = page.locator(".turn").nth(0)
            expect(turn.locator(".answer")).to_have_text(
                "Error: the answer was cut off before it finished; ask again", timeout=30_000)
            expect(turn.locator(".description.pending")).to_have_count(0)  # not "writing a description…" forever
            heat_card = turn.locator('.card[data-item-id="x2"]')  # the title and the reason are shown once each
            expect(heat_card.locator(".description")).to_have_text("A crime movie about heist.")
            expect(heat_card.locator(".evidence")).to_have_text("because you liked Ronin (1998)")
            assert page.evaluate("document.getElementById('log').scrollWidth <= "
                                 "document.getElementById('log').clientWidth + 1"), "the long title runs off"
            turn.locator(".like").first.click()
            expect(turn.locator(".like").first).not_to_have_class("like sent")
            page.wait_for_timeout(200)
            assert alerts == ["feedback refused: unknown item x1"]
            assert page.evaluate("document.querySelector('link[rel=icon]').href") == "data:,"  # no favicon 404
        finally:
            browser.close()


def test_the_api_docs_render_offline_with_an_authorize_button(page_server):
    """/docs is Swagger UI served by the app itself (FastAPI's own page loads it from a CDN: blank offline), and
    the schema declares the two ways to send a key, so "Try it out" can send one."""
    from playwright.sync_api import expect, sync_playwright

    url, _ = page_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            outside = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:")) else None)
            page.goto(url + "/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("ragrec", timeout=30_000)
            expect(page.locator("button.authorize")).to_be_visible()
            expect(page.locator(".opblock-summary-path", has_text="/v1/recommendations")).to_have_count(1)
            assert outside == []
        finally:
            browser.close()
