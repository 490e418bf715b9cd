"""``workbench fill TEXT``: the top-k candidates for each [MASK] of a masked language model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from workbench.commands.common import output_console
from workbench.config import load_settings, user_config
from workbench.engine.errors import SettingsError
from workbench.engine.fillmask import check_text
from workbench.engine.settings import check_top_k
from workbench.engine.sources import DEFAULT_ALIASES
from workbench.safetext import safe_line

if TYPE_CHECKING:
    from workbench.engine.fillmask import FillResult
    from workbench.engine.loading import LoadedModel
    from workbench.engine.settings import LoadSettings

BAR_WIDTH = 30


def run(args: argparse.Namespace) -> int:
    # Checked before the slow imports and the model load.
    text = check_text(args.text)
    top_k = check_top_k(args.top_k)
    config = user_config()
    settings = load_settings(args, config)
    if settings.model.strip().lower() in DEFAULT_ALIASES:
        # The bundled model is a causal LM: there is no honest masked-LM default to fall back on.
        from workbench.engine.masked_lm_loading import EXAMPLE_MODEL

        raise SettingsError(
            "fill needs a masked language model, and the default model is a causal one; give one with "
            f"--model, e.g. --model {EXAMPLE_MODEL} (a hub id: downloaded once, with the network) "
            "or --model PATH (a local folder)"
        )
    loaded = _load(settings, quiet=args.json)

    from workbench.engine.fillmask import fill

    result = fill(loaded, text, top_k)
    if args.json:
        print(json.dumps(as_json(loaded, result), ensure_ascii=False))
    else:
        show(loaded, result)
    return 0


def as_json(loaded: LoadedModel, result: FillResult) -> dict[str, Any]:
    return {
        "model": loaded.source.display_name,
        "text": result.text,
        "mask_token": result.mask_token,
        "masks": [
            {
                "position": mask.position,
                "candidates": [{"id": c.token_id, "token": c.token, "p": c.p} for c in mask.candidates],
            }
            for mask in result.masks
        ],
        "filled": result.filled,
        "input_tokens": result.input_tokens,
        "device": loaded.plan.label,
        "dtype": loaded.dtype_name,
        "provenance": loaded.provenance(),
    }


def show(loaded: LoadedModel, result: FillResult) -> None:
    console = output_console()
    console.print(
        Text(
            f"{safe_line(loaded.source.display_name)}, {loaded.dtype_name} — "
            "p = softmax(logits) at each mask",
            style="dim",
        )
    )
    count = len(result.masks)
    for n, mask in enumerate(result.masks, 1):
        console.print(Text(f"\nmask {n} of {count} (token position {mask.position})", style="bold"))
        table = Table(show_edge=False, box=None, padding=(0, 1))
        table.add_column("#", justify="right", style="dim")
        table.add_column("token")
        table.add_column("id", justify="right", style="dim")
        table.add_column("p", justify="right")
        table.add_column("")
        top = mask.top.p or 1.0
        for rank, candidate in enumerate(mask.candidates, 1):
            cells = round(BAR_WIDTH * candidate.p / top) if candidate.p > 0 else 0
            first = rank == 1
            table.add_row(
                str(rank),
                Text(safe_line(candidate.token), style="bold" if first else ""),
                str(candidate.token_id),
                f"{candidate.p:.4f}",
                Text("█" * max(cells, 1 if candidate.p > 0 else 0), style="green" if first else "blue"),
            )
        console.print(table)
    if result.filled:
        console.print(Text.assemble("\n→ ", (safe_line(result.filled), "bold green")))


def _load(settings: LoadSettings, quiet: bool) -> LoadedModel:
    """Load the masked LM, with the loading stage on stderr when it is a terminal."""
    from workbench.engine.masked_lm_loading import load_masked_lm

    if quiet or sys.stderr is None or not sys.stderr.isatty():
        return load_masked_lm(settings)
    with output_console(stderr=True).status("Loading model…") as status:

        def report(progress: Any) -> None:
            fraction = progress.fraction
            status.update(f"{progress.stage}{f' {fraction:.0%}' if fraction is not None else ''}")

        return load_masked_lm(settings, progress=report)
