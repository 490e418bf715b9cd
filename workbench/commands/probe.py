"""``workbench probe TEXT``: the next-token table, as ``softmax(model(ids).logits[:, -1])`` gives it."""

from __future__ import annotations

import argparse
import json
import math

from rich.table import Table
from rich.text import Text

from workbench.commands.common import (
    command_prompt,
    load_with_progress,
    output_console,
    require_text,
    sampling_settings,
)
from workbench.config import load_settings, user_config
from workbench.engine.settings import SamplingSettings, validate_top_k_shown


def describe(settings: SamplingSettings) -> str:
    """The sampling settings in one short phrase."""
    if settings.greedy:
        extra = (
            f", repetition_penalty={settings.repetition_penalty:g}"
            if settings.repetition_penalty != 1
            else ""
        )
        return "greedy" + extra
    parts = [f"temperature={settings.temperature:g}", f"top_k={settings.top_k}", f"top_p={settings.top_p:g}"]
    if settings.min_p:
        parts.append(f"min_p={settings.min_p:g}")
    if settings.repetition_penalty != 1:
        parts.append(f"repetition_penalty={settings.repetition_penalty:g}")
    return "sampling, " + ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    text = require_text(args.text)
    rows = validate_top_k_shown(args.rows)
    config = user_config()
    settings = sampling_settings(args, config)  # validated before the slow imports

    from workbench.engine.decoding import Decoder
    from workbench.engine.sampling import Sampler

    sampler = Sampler(settings)
    loaded = load_with_progress(load_settings(args, config), quiet=args.json)
    prompt = command_prompt(loaded.tokenizer, text, args.chat)
    dist = Decoder(loaded, prompt.ids).distribution(sampler, rows)

    if args.json:
        print(
            json.dumps(
                {
                    "model": loaded.source.display_name,
                    "device": loaded.plan.label,
                    "dtype": loaded.dtype_name,
                    "provenance": loaded.provenance(),
                    "prompt_ids": list(prompt.ids),
                    "entropy_nats": dist.entropy,
                    "entropy_bits": dist.entropy / math.log(2),
                    "candidates": [
                        {
                            "rank": r,
                            "id": c.token_id,
                            "token": loaded.table.info(c.token_id).text,
                            "label": c.text,
                            "p": c.p,
                            "q": c.q,
                        }
                        for r, c in enumerate(dist.candidates, 1)
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0

    console = output_console()
    table = Table(
        title=Text(
            f"Next token after {len(prompt.ids)} prompt tokens — {loaded.source.display_name}, {loaded.dtype_name}"
        )
    )
    table.add_column("#", justify="right")
    table.add_column("token")
    table.add_column("id", justify="right")
    table.add_column("p (model)", justify="right")
    table.add_column("q (sampling)", justify="right")
    table.add_column("")
    top = dist.candidates[0].p if dist.candidates else 1.0
    for rank, cand in enumerate(dist.candidates, 1):
        bar = "█" * max(1, round(20 * cand.p / top)) if cand.p > 0 else ""
        table.add_row(
            str(rank),
            Text(cand.text, style="bold magenta" if cand.kind == "special" else ""),
            str(cand.token_id),
            f"{cand.p:.4f}",
            Text(f"{cand.q:.4f}", style="dim" if cand.removed else ""),
            Text(bar, style="green"),
        )
    console.print(table)
    console.print(
        Text(
            f"entropy of p: {dist.entropy / math.log(2):.3f} bits ({dist.entropy:.3f} nats); "
            f"q: {describe(sampler.settings)}",
            style="dim",
        )
    )
    if prompt.notice:
        console.print(Text(f"note: {prompt.notice}", style="yellow"))
    return 0
