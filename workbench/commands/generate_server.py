"""``workbench generate --server URL``: the same reply, token by token, from an OpenAI-compatible server.

Torch-free. The server's probability is printed (and written to --json) as ``p`` when its
semantics say raw, ``q`` when after sampling, ``prob`` when unknown; what the server does not
give (ids, entropy) is left out rather than invented.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rich.text import Text

from workbench.commands.common import output_console
from workbench.engine.settings import SamplingSettings
from workbench.engine.steps import Candidate, TokenStep
from workbench.safetext import safe_line, safe_text


def _value_key(probability: str) -> str:
    return {"raw": "p", "post-sampling": "q"}.get(probability, "prob")


def _value(item: TokenStep | Candidate, probability: str) -> float | None:
    value = item.q if probability == "post-sampling" else item.p
    return None if math.isnan(value) else value


def _token_record(step: TokenStep, probability: str, show_probs: bool) -> dict[str, Any]:
    key = _value_key(probability)
    record: dict[str, Any] = {
        "id": step.token_id if step.token_id >= 0 else None,
        "text": step.text,
        "label": step.label,
        key: _value(step, probability),
        "rank": step.rank or None,
        "chosen_by": step.chosen_by,
    }
    if show_probs:
        record["top"] = [
            {"id": c.token_id if c.token_id >= 0 else None, "label": c.text, key: _value(c, probability)}
            for c in step.candidates
        ]
    return record


def run_on_server(args: argparse.Namespace, text: str, settings: SamplingSettings) -> int:
    from workbench.backends.server import ServerBackend
    from workbench.commands.generate import probability_style

    err = output_console(stderr=True)

    def report_retry(notice: Any) -> None:
        err.print(Text(f"workbench: {notice.message}", style="yellow"))

    probs = getattr(args, "server_probs", None)
    backend = ServerBackend.connect(
        args.server,
        args.server_model,
        on_retry=report_retry,
        post_sampling=probs == "post-sampling",
        probability=probs,
    )
    semantics = backend.semantics
    top_k = 5 if args.show_probs else 0
    if args.chat:
        messages = [{"role": "system", "content": args.system}] if args.system else []
        messages.append({"role": "user", "content": text})
        generation = backend.generation(messages=messages, settings=settings, top_k=top_k or 1)
    else:
        generation = backend.generation(prompt=text, settings=settings, top_k=top_k or 1)
    console = output_console(soft_wrap=True)
    if not args.json:
        err.print(
            Text(
                f"[{semantics.kind}{' ' + semantics.version if semantics.version else ''} at "
                f"{backend.public_url}, model {safe_line(backend.model)}; probabilities: "
                f"{semantics.label}, {semantics.cap_label}]",
                style="dim",
            )
        )
        if not args.chat:
            console.print(Text(safe_text(text), style="dim"), end="")
    key = _value_key(semantics.probability)
    for step in generation:
        if args.json:
            continue
        if args.show_probs:
            value = _value(step, semantics.probability)
            line = Text(f"{step.index:>4}  ")
            line.append(step.label, style=probability_style(value) if value is not None else "")
            shown = f"{value:.4f}" if value is not None else "n/a"
            ident = f"id={step.token_id}  " if step.token_id >= 0 else ""
            line.append(f"  {ident}{key}={shown}  rank={step.rank or 'n/a'}", style="dim")
            console.print(line)
        elif step.text:
            console.print(Text(safe_text(step.text)), end="")
            sys.stdout.flush()
    if args.json:
        print(
            json.dumps(
                {
                    **backend.describe(),
                    "capabilities": {k: v.to_dict() for k, v in backend.capabilities.items()},
                    "text": generation.text,
                    "finish_reason": generation.finish_reason,
                    "error": generation.error,
                    "tokens_per_second": generation.tokens_per_second,
                    "first_token_seconds": generation.first_token_seconds,
                    "tokens": [
                        _token_record(s, semantics.probability, args.show_probs) for s in generation.steps
                    ],
                },
                ensure_ascii=False,
            )
        )
    else:
        if not args.show_probs:
            console.print()
        err.print(
            Text(
                f"[{len(generation.steps)} tokens, {generation.tokens_per_second:.1f} tokens/s, "
                f"ended: {generation.finish_reason}]",
                style="dim",
            )
        )
    if generation.error:
        from workbench.engine.errors import WorkbenchError

        raise WorkbenchError(f"{generation.error} (the {len(generation.steps)} tokens before it were kept)")
    return 0
