"""``workbench generate PROMPT``: stream a reply token by token, optionally with probabilities."""

from __future__ import annotations

import argparse
import json
import math
import sys

from rich.console import Console
from rich.text import Text

from workbench.commands.common import (
    command_prompt,
    load_with_progress,
    output_console,
    require_text,
    sampling_settings,
)
from workbench.config import load_settings, user_config
from workbench.safetext import safe_line, safe_text


def probability_style(p: float) -> str:
    """Green for confident tokens through yellow to red for unlikely ones."""
    if p >= 0.5:
        return "green"
    if p >= 0.1:
        return "yellow"
    return "red"


def _print_upto(console: Console, text: str, printed: int, end: int) -> int:
    """Print ``text[printed:end]`` (when there is any); returns how much is printed now."""
    if end > printed:
        console.print(Text(safe_text(text[printed:end])), end="")
        sys.stdout.flush()
        return end
    return printed


def _stop_note(stop: str | None) -> str:
    from workbench.engine.settings import format_stop_field

    return f' at "{safe_line(format_stop_field([stop]))}"' if stop else ""


def run(args: argparse.Namespace) -> int:
    text = require_text(args.prompt)
    config = user_config()
    settings = sampling_settings(args, config)  # validated before the slow imports
    if getattr(args, "server", None):
        from workbench.commands.generate_server import run_on_server  # torch-free

        return run_on_server(args, text, settings)

    from workbench.engine.decoding import Decoder, Generation
    from workbench.engine.sampling import Sampler

    sampler = Sampler(settings)
    loaded = load_with_progress(load_settings(args, config), quiet=args.json)
    prompt = command_prompt(loaded.tokenizer, text, args.chat, args.system)
    console = output_console(soft_wrap=True)
    err = output_console(stderr=True)
    if prompt.notice and not args.json:
        err.print(f"note: {prompt.notice}", markup=False)

    generation = Generation(Decoder(loaded, prompt.ids), sampler, top_k=5 if args.show_probs else 0)
    if not args.json and not args.chat:
        console.print(Text(safe_text(text), style="dim"), end="")
    # Text that may be the start of a stop string is held back until the next token says
    # whether it is one (a stop string is cut from the reply, so it must never be printed).
    hold = max((len(s) for s in settings.stop), default=1) - 1
    printed = 0
    for step in generation:
        if args.json:
            continue
        if args.show_probs:
            label = Text(f"{step.index:>4}  ")
            label.append(step.label, style=probability_style(step.p))
            label.append(
                f"  id={step.token_id}  p={step.p:.4f}  q={step.q:.4f}  rank={step.rank}", style="dim"
            )
            console.print(label)
        elif step.text:
            printed = _print_upto(console, generation.text, printed, len(generation.text) - hold)
    if not args.json and not args.show_probs:
        _print_upto(console, generation.text, printed, len(generation.text))
    if args.json:
        print(
            json.dumps(
                {
                    "model": loaded.source.display_name,
                    "device": loaded.plan.label,
                    "dtype": loaded.dtype_name,
                    "provenance": loaded.provenance(),
                    "prompt_ids": list(prompt.ids),
                    "text": generation.text,
                    "finish_reason": generation.finish_reason,
                    "tokens_per_second": generation.tokens_per_second,
                    "first_token_seconds": generation.first_token_seconds,
                    "stop_string": generation.stop_string,
                    "tokens": [
                        {
                            "id": s.token_id,
                            "text": s.text,
                            "label": s.label,
                            "p": s.p,
                            "q": s.q,
                            "rank": s.rank,
                            "entropy_nats": s.entropy,
                            "entropy_bits": s.entropy / math.log(2),
                            "chosen_by": s.chosen_by,
                        }
                        for s in generation.steps
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    if not args.show_probs:
        console.print()
    err.print(
        Text(
            f"[{len(generation.steps)} tokens, {generation.tokens_per_second:.1f} tokens/s, "
            f"ended: {generation.finish_reason}{_stop_note(generation.stop_string)}]",
            style="dim",
        )
    )
    return 0
