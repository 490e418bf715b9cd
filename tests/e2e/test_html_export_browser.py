"""The exported HTML page in a real headless Chromium (Debian's, driven by Playwright-python):
hovering a token shows its candidates with p and q; no request leaves the page; hostile text
runs no script; with scripts off the numbers are in the tokens' titles.

``make tools`` installs Chromium and ``pip install -e '.[dev]'`` installs Playwright, so this
test is skipped only where they are missing, with the command that installs them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.unit.test_html_export import HOSTILE, hostile_session
from workbench.cli import main
from workbench.sessions import SessionStore

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' installs playwright")
if not Path(CHROMIUM).is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: run `make tools` (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture
def page_file(tmp_path: Path):
    with SessionStore() as store:
        sid, steps = hostile_session(store)
    out = tmp_path / "session.html"
    assert main(["sessions", "export", str(sid), "--format", "html", "--out", str(out)]) == 0
    return out, steps


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: the test may run as root (CI containers), where Chromium's sandbox refuses.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_hover_shows_candidates_and_nothing_leaves_the_page(browser, page_file) -> None:
    path, steps = page_file
    url = path.as_uri()
    context = browser.new_context()
    requests: list[str] = []
    # Every request the page makes is recorded; any but the file itself is refused.
    context.route(
        "**/*",
        lambda route: (
            requests.append(route.request.url),
            route.continue_() if route.request.url == url else route.abort(),
        ),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append("dialog: " + dialog.message), dialog.dismiss()))
    page.goto(url)
    page.wait_for_load_state("load")

    n = len(HOSTILE) + 2  # an ordinary token
    token = page.locator(f'.tok[data-r="0"][data-t="{n}"]')
    token.hover()
    pop = page.locator("#pop")
    pop.wait_for(state="visible")
    rows = pop.locator("tr.cand")
    step = steps[n]
    assert rows.count() == len(step.candidates)
    for i, c in enumerate(step.candidates):
        cells = rows.nth(i).locator("td")
        assert cells.nth(1).text_content() == c.text
        assert cells.nth(2).text_content() == f"{c.p:.4f}" or c.p < 1e-4
        assert cells.nth(3).text_content() == f"{c.q:.4f}" or c.q < 1e-4
    assert f"p {step.p:.4f}" in (pop.locator(".head").text_content() or "")

    # A hostile token: its label shows as text in the popover, and runs nothing.
    page.locator('.tok[data-r="0"][data-t="0"]').click()
    assert pop.locator(".head b").text_content() == HOSTILE[0]
    assert pop.locator("tr.cand").first.locator("td").nth(1).text_content() == HOSTILE[0]
    shown = page.locator(".tok[data-r]").all_text_contents()
    assert shown[: len(HOSTILE) - 2] == HOSTILE[: len(HOSTILE) - 2]  # (the last two: control pictures)
    assert page.locator("img, iframe, object, embed, link").count() == 0
    assert page.locator("script").count() == 2
    assert errors == [] and page.evaluate("typeof window.alert") == "function"
    assert requests == [url], requests
    context.close()


def test_readable_with_scripts_off(browser, page_file) -> None:
    path, steps = page_file
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(path.as_uri())
    n = len(HOSTILE) + 2
    title = page.locator(f'.tok[data-r="0"][data-t="{n}"]').get_attribute("title") or ""
    assert f"p {steps[n].p:.4f}" in title and f"rank {steps[n].rank}" in title
    assert page.locator("#pop").is_hidden()
    page.locator("details.table summary").first.click()
    assert page.locator("details.table tbody tr").count() == len(steps)
    data = json.loads(page.locator("#wb-data").text_content() or "")
    assert len(data["replies"][0]) == len(steps)
    context.close()
