"""``workbench score TEXT``: each token's p, rank and surprisal, and the text's perplexity."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from workbench.commands.common import load_with_progress, output_console
from workbench.config import load_settings, user_config
from workbench.engine.errors import PromptError, SettingsError
from workbench.safetext import safe_line, safe_text

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel
    from workbench.engine.scoring import ScoreResult

# The text's colours by p, a terminal-independent red -> amber -> green (the app's heat map
# follows the theme; the command line has none).
STOPS = ((0.0, (179, 38, 30)), (0.5, (179, 143, 0)), (1.0, (30, 123, 52)))


def run(args: argparse.Namespace) -> int:
    text = _text(args)
    window = _whole(args.window, "--window")
    stride = _whole(args.stride, "--stride")
    config = user_config()
    loaded = load_with_progress(load_settings(args, config), quiet=args.json)

    from workbench.engine.scoring import resolve_window

    window, stride = resolve_window(loaded, window, stride)
    result = _score(loaded, text, window, stride, quiet=args.json)
    if args.json:
        print(json.dumps(as_json(loaded, result), ensure_ascii=False))
    else:
        show(loaded, result, args.top)
    return 0


def _text(args: argparse.Namespace) -> str:
    if (args.text is None) == (args.file is None):
        raise SettingsError("give the text to score, or --file FILE (one of them)")
    if args.file is None:
        text = str(args.text)
    else:
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptError(f"cannot read {args.file}: {exc}") from None
    if not text.strip():
        raise PromptError("the text to score is empty")
    return text


def _whole(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise SettingsError(f"{flag} must be a whole number of tokens, not {value!r}") from None


def _score(loaded: LoadedModel, text: str, window: int, stride: int, quiet: bool) -> ScoreResult:
    """Score, with a progress line on stderr (a terminal only) for texts longer than a window."""
    from workbench.engine.scoring import score_text

    if quiet or sys.stderr is None or not sys.stderr.isatty():
        return score_text(loaded, text, window, stride)
    with output_console(stderr=True).status("Scoring…") as status:

        def report(done: int, total: int) -> None:
            status.update(f"Scoring… {done}/{total} tokens")

        return score_text(loaded, text, window, stride, progress=report)


def as_json(loaded: LoadedModel, result: ScoreResult) -> dict[str, Any]:
    return {
        "model": loaded.source.display_name,
        "tokens": [
            {
                "id": t.token_id,
                "token": t.token,
                "text": t.text,
                "p": t.p,
                "rank": t.rank,
                "bits": None if t.bits is None or t.bits == float("inf") else t.bits,
            }
            for t in result.tokens
        ],
        "perplexity": None if result.perplexity != result.perplexity else result.perplexity,
        "mean_bits": None if result.mean_bits != result.mean_bits else result.mean_bits,
        "scored_tokens": len(result.scored),
        "window": result.window,
        "stride": result.stride,
        "windows": result.windows,
        "device": loaded.plan.label,
        "dtype": loaded.dtype_name,
        "provenance": loaded.provenance(),
    }


def colour(p: float) -> str:
    p = max(0.0, min(1.0, p))
    (p0, c0), (p1, c1) = (STOPS[0], STOPS[1]) if p < 0.5 else (STOPS[1], STOPS[2])
    f = (p - p0) / (p1 - p0)
    r, g, b = (round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def show(loaded: LoadedModel, result: ScoreResult, top: int = 10) -> None:
    console = output_console()
    console.print(
        Text(
            f"{safe_line(loaded.source.display_name)}, {loaded.dtype_name} — p of each token given the ones "
            f"before it; window {result.window} tokens, stride {result.stride} ({result.windows} "
            f"pass{'es' if result.windows != 1 else ''})",
            style="dim",
        )
    )
    body = Text()
    for t in result.tokens:
        style = "dim" if t.p is None else f"white on {colour(t.p)}"
        body.append(safe_text(t.text), style)
    console.print(body)
    console.print(
        Text.assemble(
            "perplexity ",
            (f"{result.perplexity:.3f}", "bold"),
            f"  ·  mean surprisal {result.mean_bits:.3f} bits over {len(result.scored)} tokens",
        )
    )
    worst = result.most_surprising(top)
    if not worst:
        return
    table = Table(
        title=Text("most surprising tokens", style="bold"), show_edge=False, box=None, padding=(0, 1)
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("token")
    table.add_column("p", justify="right")
    table.add_column("rank", justify="right")
    table.add_column("bits", justify="right")
    for t in worst:
        assert t.p is not None
        table.add_row(str(t.index), Text(safe_line(t.token)), f"{t.p:.2e}", str(t.rank), f"{t.bits:.2f}")
    console.print(table)
