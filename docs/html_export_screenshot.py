"""Make docs/html-export.png: a real reply of the bundled model, exported as HTML, one token
hovered, photographed by headless Chromium. Run: python docs/html_export_screenshot.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from workbench.engine.decoding import Decoder, Generation
from workbench.engine.loading import load_model
from workbench.engine.prompts import chat_prompt
from workbench.engine.sampling import Sampler
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.sessions import SessionStore
from workbench.sessions.html_export import export_html

QUESTION = "Describe Paris for a visitor in three sentences."
OUT = Path(__file__).with_name("html-export.png")


def main() -> int:
    settings = SamplingSettings(temperature=0.7, top_k=40, top_p=0.95, seed=7, max_new_tokens=70)
    loaded = load_model(LoadSettings(model="default", device="cpu", dtype="float32"))
    prompt = chat_prompt(loaded.tokenizer, [{"role": "user", "content": QUESTION}])
    generation = Generation(Decoder(loaded, prompt.ids), Sampler(settings), top_k=10)
    steps = list(generation)
    work = Path(tempfile.mkdtemp())
    with SessionStore(work / "workbench.db") as store:
        sid = store.create_session(
            loaded.source.display_name, sampling=settings, provenance=loaded.provenance()
        )
        question = store.add_message(sid, "user", QUESTION)
        reply = store.start_reply(sid, question, settings)
        store.finish_reply(reply, generation.text, "complete", {}, steps)
        page_file = work / "session.html"
        page_file.write_text(export_html(store, sid), encoding="utf-8")
    hovered = next(n for n, s in enumerate(steps) if n > 8 and 0.15 < s.p < 0.6 and s.text.strip())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 760, "height": 660}, color_scheme="light")
        page.goto(page_file.as_uri())
        page.locator(f'.tok[data-r="0"][data-t="{hovered}"]').hover()
        page.locator("#pop").wait_for(state="visible")
        page.screenshot(path=str(OUT))
        browser.close()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes); hovered token {hovered}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
