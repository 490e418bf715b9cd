"""``workbench vocab``: search the vocabulary or export it to a file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from workbench.commands.common import output_console
from workbench.config import load_settings, user_config
from workbench.engine.errors import SettingsError, WorkbenchError


def run(args: argparse.Namespace) -> int:
    from workbench.engine.loading import load_tokenizer
    from workbench.engine.tokens import TokenTable, export_vocabulary, search_vocab

    table = TokenTable(load_tokenizer(load_settings(args, user_config())))
    if args.search is not None:
        try:
            ids = list(search_vocab(table, args.search, args.mode, limit=args.limit))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    else:
        ids = list(range(table.size))[: args.limit]
    if args.out:
        try:
            count = export_vocabulary(table, Path(args.out), ids)
        except OSError as exc:
            raise WorkbenchError(f"could not write {args.out}: {exc.strerror or exc}") from None
        output_console(stderr=True).print(f"wrote {count} tokens to {args.out}", markup=False)
        return 0
    rows: list[dict[str, Any]] = [
        {"id": i, "token": table.info(i).text, "label": table.label(i), "kind": table.kind(i)} for i in ids
    ]
    if args.json:
        print(json.dumps({"size": table.size, "tokens": rows}, ensure_ascii=False))
        return 0
    console = output_console()
    grid = Table(title=Text(f"{len(rows)} of {table.size} tokens"))
    grid.add_column("id", justify="right")
    grid.add_column("token")
    grid.add_column("kind")
    for row in rows[:1000]:
        grid.add_row(str(row["id"]), Text(row["label"]), row["kind"])
    console.print(grid)
    if len(rows) > 1000:
        console.print(Text(f"… {len(rows) - 1000} more; use --out FILE for all of them", style="dim"))
    return 0
