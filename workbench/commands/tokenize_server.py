"""``workbench tokenize --server URL TEXT``: the server's own tokenizer (or a cached local one)."""

from __future__ import annotations

import argparse
import json

from rich.table import Table
from rich.text import Text

from workbench.commands.common import output_console, require_text


def run_on_server(args: argparse.Namespace) -> int:
    from workbench.backends.server import ServerBackend
    from workbench.backends.server.tokenizing import TokenPiece

    text = require_text(args.text, "text")
    backend = ServerBackend.connect(args.server, args.server_model)
    if args.chat:
        ids = backend.chat_ids([{"role": "user", "content": text}])
        labels = backend.tokenizer.labels(set(ids))
        pieces = [TokenPiece(i, labels[i]) for i in ids]
    else:
        pieces = backend.tokenize(text, add_special=args.special)
    if args.json:
        print(
            json.dumps(
                {
                    **backend.describe(),
                    "tokenizer": backend.tokenizer.source,
                    "text": text,
                    "tokens": [{"id": p.token_id, "label": p.label} for p in pieces],
                },
                ensure_ascii=False,
            )
        )
        return 0
    console = output_console()
    grid = Table(show_edge=False)
    grid.add_column("#", justify="right")
    grid.add_column("token")
    grid.add_column("id", justify="right")
    for n, piece in enumerate(pieces):
        grid.add_row(str(n), Text(piece.label), str(piece.token_id))
    console.print(grid)
    console.print(
        Text(
            f"{len(pieces)} tokens, from {backend.tokenizer.source} tokenizer of {backend.model}", style="dim"
        )
    )
    return 0
