"""``workbench tokenize TEXT``: pieces, ids, and visible whitespace and bytes."""

from __future__ import annotations

import argparse
import json

from rich.table import Table
from rich.text import Text

from workbench.commands.common import output_console, require_text
from workbench.config import load_settings, user_config


def run(args: argparse.Namespace) -> int:
    if getattr(args, "server", None):
        from workbench.commands.tokenize_server import run_on_server  # torch-free

        return run_on_server(args)
    from workbench.engine.loading import load_tokenizer
    from workbench.engine.prompts import chat_prompt
    from workbench.engine.tokens import TokenTable, describe_ids, tokenize

    text = require_text(args.text, "text")
    tokenizer = load_tokenizer(load_settings(args, user_config()))
    table = TokenTable(tokenizer)
    if args.chat:
        prompt = chat_prompt(tokenizer, [{"role": "user", "content": text}])
        spans = describe_ids(table, prompt.ids)
        source_text = prompt.text
    else:
        result = tokenize(table, text, add_special_tokens=args.special)
        spans, source_text = list(result.spans), text

    if args.json:
        print(
            json.dumps(
                {
                    "text": source_text,
                    "tokens": [
                        {
                            "id": s.token_id,
                            "token": table.info(s.token_id).text,
                            "label": s.label,
                            "kind": s.kind,
                            "start": s.start,
                            "end": s.end,
                        }
                        for s in spans
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    console = output_console()
    chips = Text()
    styles = ["on #31456a", "on #5a3d5c"]
    for n, span in enumerate(spans):
        style = (
            "bold magenta on #333333"
            if span.kind == "special"
            else ("yellow " + styles[n % 2] if span.kind == "bytes" else styles[n % 2])
        )
        chips.append(span.label, style=style)
    console.print(chips)
    grid = Table(show_edge=False)
    grid.add_column("#", justify="right")
    grid.add_column("token")
    grid.add_column("id", justify="right")
    grid.add_column("kind")
    for n, span in enumerate(spans):
        grid.add_row(str(n), Text(span.label), str(span.token_id), span.kind)
    console.print(grid)
    chars = len(source_text)
    ratio = chars / len(spans) if spans else 0
    console.print(
        Text(f"{len(spans)} tokens, {chars} characters, {ratio:.2f} characters per token", style="dim")
    )
    return 0
