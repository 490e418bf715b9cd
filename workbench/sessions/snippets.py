"""Search snippets as text with the matched words highlighted (sessions screen and CLI).

Rich only, no Textual: beside the search that makes the spans, below both the CLI and the UI.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from workbench.safetext import safe_line

MATCH_STYLE = Style(bold=True, reverse=True)  # reverse stays visible on the cursor row too


def snippet_text(snippet: str, spans: tuple[tuple[int, int], ...], style: Style | str = MATCH_STYLE) -> Text:
    """A search snippet with its matched words in ``style``. Made safe piece by piece:
    ``safe_line`` can turn one character into several (C1 controls become ``<0x85>``), which
    would shift spans computed on the raw text."""
    text = Text()
    position = 0
    for start, end in sorted(spans):
        start, end = max(start, position), min(end, len(snippet))
        if start >= end:
            continue
        text.append(safe_line(snippet[position:start]))
        text.append(safe_line(snippet[start:end]), style=style)
        position = end
    text.append(safe_line(snippet[position:]))
    return text
