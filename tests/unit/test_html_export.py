"""The HTML export: hostile titles, messages and token labels stay text; the page names no URL;
the token data round-trips through its JSON block; the CLI writes it."""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.unit.helpers_sessions.steps import make_reply
from workbench.cli import main
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.engine.steps import Candidate
from workbench.sessions import SessionStore
from workbench.sessions.html_export import band, esc, export_html, script_json

HOSTILE = [
    "</span><script>alert(1)</script>",
    "</script><script>alert(2)</script>",
    "<!--",
    "<img src=x onerror=alert(3)>",
    '" onmouseover="alert(4)',
    "' autofocus onfocus='alert(5)",
    "&lt;b&gt;",
    "\u2028\u2029",
    "\x1b]52;c;SGk=\x07",
    "\u202eexe.pdf",
]  # (lone surrogates cannot reach the store; script_json's own test has one)


class Page(HTMLParser):
    """Every element and attribute of the page, and the text inside each token span."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.tokens: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        classes = (dict(attrs).get("class") or "").split()
        self._in.append("tok" if tag == "span" and "tok" in classes and dict(attrs).get("data-r") else tag)
        if tag == "script":
            self.scripts.append("")
        if self._in[-1] == "tok":
            self.tokens.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._in:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script":
            self.scripts[-1] += data
        if self._in and self._in[-1] == "tok":
            self.tokens[-1] += data


def hostile_session(store: SessionStore) -> tuple[int, list]:
    sid = store.create_session(
        "tiny <b>model</b>",
        load=LoadSettings(model="tiny"),
        sampling=SamplingSettings(temperature=0.7),
        title="Title </title><script>alert('t')</script>",
    )
    q = store.add_message(sid, "user", "".join(HOSTILE))
    _, steps = make_reply(5, n=30)
    # Each hostile string as a token's text and label, and as a candidate's label.
    steps = [
        replace(
            s,
            text=HOSTILE[n] if n < len(HOSTILE) else s.text,
            label=HOSTILE[n] if n < len(HOSTILE) else s.label,
            candidates=(Candidate(7, HOSTILE[n % len(HOSTILE)], 0.5, 0.6), *s.candidates[1:]),
        )
        for n, s in enumerate(steps)
    ]
    reply = store.start_reply(sid, q, SamplingSettings())
    store.finish_reply(reply, "".join(s.text for s in steps), "complete", {}, steps)
    return sid, steps


@pytest.fixture
def store(tmp_path: Path):
    with SessionStore(tmp_path / "workbench.db") as s:
        yield s


def test_hostile_text_stays_text(store: SessionStore) -> None:
    sid, steps = hostile_session(store)
    page_html = export_html(store, sid)
    page = Page()
    page.feed(page_html)
    page.close()
    # Exactly two scripts: the JSON data and the page's own; nothing the text smuggled in.
    assert [t for t, _ in page.tags if t == "script"] == ["script", "script"]
    assert page_html.lower().count("<script") == 2 and page_html.lower().count("</script") == 2
    assert {t for t, _ in page.tags} <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "ul", "li", "p", "span",
        "main", "section", "h2", "div", "details", "summary", "table", "thead", "tbody", "tr", "th",
        "td", "em", "footer", "script",
    }  # fmt: skip
    assert not any(name.startswith("on") or name in ("src", "href") for _, a in page.tags for name in a)
    assert "alert" not in "".join(page.scripts[1:])
    # Each token span holds its text, made visible (ESC as a picture) but otherwise unchanged.
    expected = [esc_free(s.text or s.label) for s in steps]
    assert page.tokens == expected
    data = json.loads(page.scripts[0])
    reply = data["replies"][0]
    assert [r["c"][0][1] for r in reply[: len(HOSTILE)]] == [esc_free(h) for h in HOSTILE]
    assert [r["p"] for r in reply] == [s.p for s in steps]
    # The title is text too.
    title_text = page_html.split("<title>")[1].split("</title>")[0]
    assert "<" not in title_text and "&lt;script&gt;" in title_text


def esc_free(text: str) -> str:
    """What the page shows for ``text``: safe_text's visible stand-ins, no escaping left over."""
    from workbench.safetext import safe_text

    return safe_text(text)


def test_escaping_helpers() -> None:
    assert esc("</span><b a=\"1\" b='2'>&") == "&lt;/span&gt;&lt;b a=&quot;1&quot; b=&#x27;2&#x27;&gt;&amp;"
    assert esc("\x1b[2J") == "\u241b[2J"
    raw = script_json({"x": "</script><!-- & \u2028 \ud800"})
    assert "<" not in raw and ">" not in raw and "&" not in raw and "\u2028" not in raw
    assert json.loads(raw) == {"x": "</script><!-- & \u2028 \ud800"}
    assert [band(p) for p in (1.0, 0.9, 0.6, 0.3, 0.1, 0.01, 0.0)] == [0, 0, 1, 2, 3, 4, 4]


def test_page_is_self_contained_and_readable_without_scripts(store: SessionStore) -> None:
    sid, steps = hostile_session(store)
    page_html = export_html(store, sid)
    assert "http://" not in page_html and "https://" not in page_html and "url(" not in page_html
    assert "@import" not in page_html and "//" not in page_html.split("<script>")[0].replace("<!DOCTYPE", "")
    assert "default-src 'none'" in page_html and "connect-src 'none'" in page_html
    page = Page()
    page.feed(page_html)
    titles = [a["title"] for t, a in page.tags if t == "span" and a.get("data-r") is not None]
    assert len(titles) == len(steps)
    first = steps[len(HOSTILE)]  # an ordinary token: its numbers and candidates in its title
    title = titles[len(HOSTILE)]
    assert f"p {first.p:.4f}" in title and f"rank {first.rank}" in title
    assert all(f"{c.p:.4f}" in title or c.p < 1e-4 for c in first.candidates[:5])
    assert any(t == "details" for t, _ in page.tags)  # the token table, collapsed
    assert "Tokens coloured by the model" in page_html and all(
        f'class="tok b{i}"' in page_html for i in range(5)
    )


def test_cli_writes_html_by_suffix_and_refuses_tokens(tmp_path: Path, capsys) -> None:
    with SessionStore() as store:  # the user's store under the test's WORKBENCH_HOME
        sid, _ = hostile_session(store)
    out = tmp_path / "page.html"
    assert main(["sessions", "export", str(sid), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["sessions", "export", "last", "--format", "html", "--tokens"]) == 2
    assert "--tokens only goes with --format json" in capsys.readouterr().err


def test_a_server_reply_exports_without_invented_numbers(store: SessionStore) -> None:
    """A server sends p (or q) only, no entropy and maybe no ids: the page says "n/a", its
    JSON has null (NaN is not JSON), and the token is coloured by the value given."""
    from tests.unit.test_not_given_values import server_step

    sid = store.create_session("server", load=LoadSettings(model="tiny"), sampling=SamplingSettings())
    q = store.add_message(sid, "user", "capital?")
    steps = [replace(server_step(n, with_ids=n % 2 == 0), index=n) for n in range(3)]
    reply = store.start_reply(sid, q, SamplingSettings())
    store.finish_reply(reply, "".join(s.text for s in steps), "complete", {}, steps)
    page_html = export_html(store, sid)
    page = Page()
    page.feed(page_html)
    assert "NaN" not in page.scripts[0] and "nan" not in page_html.lower().replace("nanos", "")
    data = json.loads(page.scripts[0])["replies"][0]
    assert data[0]["q"] is None and data[0]["e"] is None and abs(data[0]["p"] - 0.8) < 1e-6
    titles = [a["title"] for t, a in page.tags if t == "span" and a.get("data-r") is not None]
    assert "q n/a" in titles[0] and "entropy not given" in titles[0]
    assert f'class="tok b{band(0.8)}"' in page_html
