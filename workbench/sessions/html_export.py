"""A session as one self-contained HTML page: reply tokens coloured by probability, each token's
top-k with p and q on hover, click or focus (as llama.cpp's web UI shows them).

Self-contained: the page names no URL at all (no script, font, image or style from elsewhere),
and its Content-Security-Policy allows only its own inline style and script, by hash, and no
connection. It stays readable with scripts off: every token carries its numbers in its
``title``, and each reply has a collapsed token table.

Every piece of text here is untrusted (titles, messages, token labels): it is made visible
(``safe_text``: control characters and bidi overrides) and HTML-escaped, quotes included. The
token data for the script is JSON inside ``<script type="application/json">`` with ``<``, ``>``
and ``&`` written as ``\\u003c`` etc., so no string can close that element; the script reads it
with ``JSON.parse`` and writes it with ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from workbench.engine.steps import TokenStep
from workbench.safetext import safe_line, safe_text
from workbench.sessions.records import MessageRecord
from workbench.sessions.store import SessionStore

# Probability bands, most to least probable: (lower bound, label). Their colours are in
# html_export.css as .b0 ... .b4; the legend shows them in this order.
BANDS = ((0.9, "p ≥ 0.9"), (0.5, "0.5 – 0.9"), (0.2, "0.2 – 0.5"), (0.05, "0.05 – 0.2"), (0.0, "p < 0.05"))
TITLE_CANDIDATES = 5  # candidates written into each token's title (the script shows them all)
_JSON_UNSAFE = re.compile(r"[<>&\u2028\u2029\ud800-\udfff]")


def band(p: float) -> int:
    """The index of ``p``'s probability band in :data:`BANDS`."""
    for index, (low, _) in enumerate(BANDS):
        if p >= low:
            return index
    return len(BANDS) - 1


def esc(text: str) -> str:
    """Untrusted text as HTML text or attribute value: control characters made visible, then
    ``& < > " '`` escaped."""
    return html.escape(safe_text(text), quote=True)


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<`` (so no
    ``</script>`` or ``<!--``), ``>`` or ``&``, and no raw line separators or lone surrogates."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _asset(name: str) -> str:
    return resources.files("workbench.sessions").joinpath(name).read_text(encoding="utf-8")


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _number(x: float) -> str:
    if math.isnan(x):  # not given by the backend (a server sends p or q, and no entropy)
        return "n/a"
    return f"{x:.4f}" if x >= 1e-4 or x == 0 else f"{x:.1e}"


def _or_null(x: float) -> float | None:
    return None if math.isnan(x) else x


def _bits(nats: float) -> str:
    return "not given" if math.isnan(nats) else f"{nats / math.log(2):.2f} bits"


def _shown(step: TokenStep) -> float:
    """The value a token is coloured by: p, or q where a server gave only that (else the middle)."""
    value = step.q if math.isnan(step.p) else step.p
    return 0.5 if math.isnan(value) else value


def _token_title(step: TokenStep) -> str:
    lines = [
        f"{safe_line(step.label)}  p {_number(step.p)} · q {_number(step.q)} · rank {step.rank} · "
        f"entropy {_bits(step.entropy)} · {step.chosen_by}"
    ]
    for rank, c in enumerate(step.candidates[:TITLE_CANDIDATES], 1):
        lines.append(f"{rank}. {safe_line(c.text)}  p {_number(c.p)}  q {_number(c.q)}")
    return "\n".join(lines)


def _step_data(step: TokenStep) -> dict[str, Any]:
    return {
        "l": safe_line(step.label),
        "id": step.token_id,
        "p": _or_null(step.p),
        "q": _or_null(step.q),
        "r": step.rank,
        "e": _or_null(step.entropy / math.log(2)),
        "by": step.chosen_by,
        "c": [[c.token_id, safe_line(c.text), _or_null(c.p), _or_null(c.q)] for c in step.candidates],
    }


def _tokens_html(reply: int, steps: Sequence[TokenStep]) -> str:
    spans = []
    for n, step in enumerate(steps):
        shown = step.text
        classes = f"tok b{band(_shown(step))}"
        if not shown:  # a special token, or the first bytes of a character a later token ends
            shown, classes = step.label, classes + " mark"
        spans.append(
            f'<span class="{classes}" tabindex="0" data-r="{reply}" data-t="{n}" '
            f'title="{esc(_token_title(step))}">{esc(shown)}</span>'
        )
    return "".join(spans)


def _token_table(steps: Sequence[TokenStep]) -> str:
    rows = []
    for n, step in enumerate(steps):
        top = " · ".join(
            f"{esc(safe_line(c.text))} {_number(c.p)}/{_number(c.q)}"
            for c in step.candidates[:TITLE_CANDIDATES]
        )
        rows.append(
            f"<tr><td>{n}</td><td class='b{band(_shown(step))}'>{esc(safe_line(step.label))}</td>"
            f"<td>{_number(step.p)}</td><td>{_number(step.q)}</td><td>{step.rank}</td><td>{top}</td></tr>"
        )
    return (
        "<details class='table'><summary>Token table (p, q, rank, top candidates p/q)</summary>"
        "<table><thead><tr><th>#</th><th>token</th><th>p</th><th>q</th><th>rank</th>"
        "<th>top candidates (p/q)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></details>"
    )


def _legend() -> str:
    items = "".join(
        f'<span class="tok b{i}">{html.escape(label)}</span>' for i, (_, label) in enumerate(BANDS)
    )
    return (
        '<p class="legend">Tokens coloured by the model\'s probability p of the token chosen: '
        f"{items}. Hover over, click or focus a token for its top candidates with p (the model) "
        "and q (after the sampling settings).</p>"
    )


def _message_html(m: MessageRecord, reply: int | None, steps: Sequence[TokenStep]) -> str:
    status = "" if m.status == "complete" else f" ({esc(m.status)})"
    head = f'<h2 class="role">{esc(m.role.capitalize())}{status}</h2>'
    if reply is not None and steps:
        body = f'<div class="text tokens">{_tokens_html(reply, steps)}</div>' + _token_table(steps)
    else:
        body = f'<div class="text">{esc(m.content) if m.content.strip() else "<em>(no text)</em>"}</div>'
    return f'<section class="msg {esc(m.role)}">{head}{body}</section>'


def export_html(store: SessionStore, session_id: int) -> str:
    """The session's active branch as one self-contained HTML page."""
    from workbench.sessions.portable import iso, provenance_line, settings_summary

    session = store.get_session(session_id)
    branch = store.messages(session_id)
    replies: list[list[dict[str, Any]]] = []
    sections = []
    for m in branch:
        steps = store.token_steps(m.id) if m.role == "assistant" and m.token_count else []
        reply = len(replies) if steps else None
        if steps:
            replies.append([_step_data(s) for s in steps])
        sections.append(_message_html(m, reply, steps))
    title = session.title or "Untitled session"
    facts = [
        f"Model: {session.model or 'unknown'}",
        f"Created {iso(session.created)[:19].replace('T', ' ')} UTC",
    ]
    facts += settings_summary(session.load, session.sampling)
    ran = ""
    if session.provenance:
        ran = f"<li><details><summary>Ran</summary>{esc(safe_line(provenance_line(session.provenance)))}</details></li>"
    css, script = _asset("html_export.css"), _asset("html_export.js")
    policy = (
        f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(script)}; "
        "img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(safe_line(title))}</title><style>{css}</style></head><body>"
        f"<header><h1>{esc(safe_line(title))}</h1><ul class='facts'>"
        + "".join(f"<li>{esc(safe_line(f))}</li>" for f in facts)
        + ran
        + f"</ul>{_legend()}</header><main>"
        + "".join(sections)
        + "</main><footer>Exported by workbench.</footer>"
        f'<div id="pop" role="tooltip" hidden></div>'
        f'<script type="application/json" id="wb-data">{script_json({"replies": replies})}</script>'
        f"<script>{script}</script></body></html>\n"
    )
