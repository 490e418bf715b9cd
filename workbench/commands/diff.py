"""``workbench diff TEXT --against B``: KL(A‖B) per token of the next-token distributions of two
models that share a vocabulary (e.g. the same model in float32 and bfloat16).

``build_parser`` imports this module for every ``--help``: Rich, torch and the config are
imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import SettingsError
from workbench.engine.settings import DTYPES
from workbench.safetext import safe_line

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel
    from workbench.engine.model_diff import DiffResult

BAR_WIDTH = 8


def add_parser(commands: Any, model: argparse.ArgumentParser) -> argparse.ArgumentParser:
    diff = commands.add_parser(
        "diff",
        parents=[model],
        help="model against model: KL(A‖B) per token of two models sharing a vocabulary",
        description="Read TEXT with model A (--model) and model B (--against) and show, for each "
        "token, KL(A‖B) = sum pA (log pA - log pB) of the two next-token distributions that "
        "predicted it, both top-k lists, and where they disagree most. B must have A's vocabulary; "
        "it is checked, and so is free memory, before B loads. With the bundled model alone: "
        "workbench diff TEXT --dtype float32 --dtype-b bfloat16.",
    )
    diff.add_argument("text", help="the text both models read")
    diff.add_argument(
        "--against",
        "-b",
        default=None,
        metavar="B",
        help="model B, named as --model is (default: the same model as A, e.g. in another --dtype-b)",
    )
    diff.add_argument(
        "--dtype-b", default=None, help=f"model B's dtype: {', '.join(DTYPES)} (default: A's dtype setting)"
    )
    diff.add_argument(
        "--top-k", "-k", type=str, default="5", help="how many candidates of each model to show (1-50)"
    )
    diff.add_argument(
        "--most", type=int, default=10, help="how many of the largest-KL tokens to list (default 10)"
    )
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    return diff


def run(args: argparse.Namespace) -> int:
    from workbench.commands.common import load_with_progress, require_text
    from workbench.config import load_settings, user_config
    from workbench.engine.settings import check_top_k

    text = require_text(args.text, "text")
    top_k = check_top_k(args.top_k)
    if args.most < 1:
        raise SettingsError(f"--most must be at least 1, not {args.most}")
    config = user_config()
    settings_a = load_settings(args, config)
    settings_b = replace(settings_a, model=args.against or settings_a.model)
    if args.dtype_b is not None:
        if args.dtype_b not in DTYPES:
            raise SettingsError(f"--dtype-b must be one of {', '.join(DTYPES)}, not {args.dtype_b!r}")
        settings_b = replace(settings_b, dtype=args.dtype_b)

    from workbench.engine.model_diff import diff_text, load_model_b

    loaded_a = load_with_progress(settings_a, quiet=args.json)
    loaded_b = load_model_b(loaded_a, settings_b)
    result = diff_text(loaded_a, loaded_b, text, top_k)
    if args.json:
        print(json.dumps(as_json(loaded_a, loaded_b, result, args.most), ensure_ascii=False))
    else:
        show(loaded_a, loaded_b, result, args.most)
    return 0


def as_json(a: LoadedModel, b: LoadedModel, result: DiffResult, most: int) -> dict[str, Any]:
    def top(cands: Any) -> list[dict[str, Any]]:
        return [{"id": c.token_id, "token": c.token, "p": c.p} for c in cands]

    return {
        "tokens": [
            {
                "position": t.position,
                "id": t.token_id,
                "token": t.token,
                "kl": t.kl,
                "p_a": t.p_a,
                "p_b": t.p_b,
                "top_a": top(t.top_a),
                "top_b": top(t.top_b),
            }
            for t in result.tokens
        ],
        "mean_kl": result.mean_kl,
        "kl_unit": "nats",
        "most_different": [t.position for t in result.most_different(most)],
        "ids": list(result.ids),
        "compared_ids": result.compared_ids,
        "model_a": a.provenance(),
        "model_b": b.provenance(),
    }


def show(a: LoadedModel, b: LoadedModel, result: DiffResult, most: int) -> None:
    from rich.table import Table
    from rich.text import Text

    from workbench.commands.common import output_console

    console = output_console()
    console.print(Text(f"A: {safe_line(a.source.display_name)}, {a.dtype_name}", style="bold"))
    console.print(Text(f"B: {safe_line(b.source.display_name)}, {b.dtype_name}", style="bold"))
    console.print(
        Text(
            f"{len(result.tokens)} tokens compared · mean KL(A‖B) {result.mean_kl:.3g} nats "
            f"({result.mean_kl / math.log(2):.3g} bits)",
            style="dim",
        )
    )
    table = Table(title=Text("Where they disagree most"), box=None, padding=(0, 1))
    table.add_column("pos", justify="right", style="dim", no_wrap=True, min_width=3)
    table.add_column("token", no_wrap=True, min_width=6, max_width=14)
    table.add_column("KL nats", justify="right", no_wrap=True, min_width=8)
    table.add_column("", no_wrap=True, min_width=BAR_WIDTH)
    table.add_column("pA", justify="right", no_wrap=True, min_width=6)
    table.add_column("pB", justify="right", no_wrap=True, min_width=6)
    table.add_column("A's top", overflow="ellipsis", no_wrap=True, max_width=14)
    table.add_column("B's top", overflow="ellipsis", no_wrap=True, max_width=14)
    rows = result.most_different(most)
    top_kl = rows[0].kl if rows and rows[0].kl > 0 else 1.0
    for t in rows:
        bar = "█" * max(1, round(BAR_WIDTH * t.kl / top_kl)) if t.kl > 0 else ""
        table.add_row(
            str(t.position),
            Text(safe_line(t.token)),
            f"{t.kl:.3g}",
            Text(bar, style="red"),
            f"{t.p_a:.4f}",
            f"{t.p_b:.4f}",
            Text(", ".join(f"{safe_line(c.token)} {c.p:.3f}" for c in t.top_a[:1])),
            Text(", ".join(f"{safe_line(c.token)} {c.p:.3f}" for c in t.top_b[:1])),
        )
    console.print(table)
