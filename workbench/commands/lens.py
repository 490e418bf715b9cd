"""``workbench lens TEXT``: the logit lens, the top-k of every layer for one predicted token."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from workbench.commands.common import load_with_progress, output_console, require_text
from workbench.config import load_settings, user_config
from workbench.engine.lens import resolve_target
from workbench.engine.settings import check_top_k
from workbench.safetext import safe_line

if TYPE_CHECKING:
    from workbench.engine.lens import LensResult
    from workbench.engine.loading import LoadedModel


def run(args: argparse.Namespace) -> int:
    text = require_text(args.text, "text")
    top_k = check_top_k(args.top_k)
    position = _position(args.position)
    config = user_config()
    loaded = load_with_progress(load_settings(args, config), quiet=args.json)

    from workbench.engine.lens import logit_lens
    from workbench.engine.scoring import encode_text

    ids = encode_text(loaded, text)
    target = resolve_target(len(ids), position)
    result = logit_lens(loaded, ids, target, top_k)
    if args.json:
        print(json.dumps(as_json(loaded, result), ensure_ascii=False))
    else:
        show(loaded, result)
    return 0


def _position(value: str | None) -> int | None:
    if value is None:
        return None
    from workbench.engine.errors import SettingsError

    try:
        return int(value.strip())
    except ValueError:
        raise SettingsError(f"--position must be a whole number (a token index), not {value!r}") from None


def as_json(loaded: LoadedModel, result: LensResult) -> dict[str, Any]:
    return {
        "model": loaded.source.display_name,
        "ids": list(result.ids),
        "position": result.target,
        "chosen": {"id": result.chosen_id, "token": result.chosen},
        "final_norm": result.norm_name,
        "layers": [
            {
                "layer": layer.layer,
                "candidates": [{"id": c.token_id, "token": c.token, "p": c.p} for c in layer.candidates],
                "chosen_p": layer.chosen_p,
                "chosen_rank": layer.chosen_rank,
            }
            for layer in result.layers
        ],
        "device": loaded.plan.label,
        "dtype": loaded.dtype_name,
        "provenance": loaded.provenance(),
    }


def show(loaded: LoadedModel, result: LensResult) -> None:
    console = output_console()
    after = "the token after the text" if result.target == len(result.ids) else f"token {result.target}"
    console.print(
        Text.assemble(
            (f"{safe_line(loaded.source.display_name)}, {loaded.dtype_name} — logit lens of ", "dim"),
            (after, "bold"),
            (" (chosen: ", "dim"),
            (safe_line(result.chosen), "bold green"),
            (f"); each layer through {result.norm_name} and lm_head, then softmax", "dim"),
        )
    )
    table = Table(
        show_edge=False,
        box=None,
        padding=(0, 1),
        caption=Text("emb: the embeddings; the last row is the model's output, its p", style="dim"),
    )
    table.add_column("layer", justify="right", style="dim", no_wrap=True, min_width=5)
    table.add_column("p chosen", justify="right", no_wrap=True, min_width=8)
    table.add_column("rank", justify="right", style="dim", no_wrap=True, min_width=4)
    k = len(result.layers[0].candidates)
    for n in range(1, k + 1):
        table.add_column(f"#{n}", no_wrap=True, overflow="ellipsis")
    for layer in result.layers:
        name = "emb" if layer.layer == 0 else str(layer.layer)
        cells: list[Text | str] = [name, f"{layer.chosen_p:.4f}", str(layer.chosen_rank)]
        for c in layer.candidates:
            style = "bold green" if c.token_id == result.chosen_id else ""
            cells.append(Text.assemble((safe_line(c.token), style), (f" {c.p:.3f}", "dim")))
        table.add_row(*cells)
    console.print(table)
