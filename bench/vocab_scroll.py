"""How the tokenizer inspector copes with a 262,144-entry vocabulary.

A synthetic SentencePiece-style tokenizer (no download) behind a real ``TokenTable``:
times the one-off text table, substring/regex/id searches, and, in a headless Textual app,
key presses that scroll the virtual vocabulary list and a search that runs while keys are
pressed (the UI must keep answering). Prints times; asserts nothing.

    python bench/vocab_scroll.py [--size 262144] [--keys 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import string
import time
from typing import Any

from textual.app import App, ComposeResult

from workbench.engine.tokens import TokenTable, search_vocab
from workbench.ui.panes.tokenizer import TokenizerPane
from workbench.ui.widgets.vocab_list import VocabList


class SyntheticTokenizer:
    """Just enough of a tokenizer for ``TokenTable``: pieces like '▁word', bytes, specials."""

    def __init__(self, size: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        letters = string.ascii_letters + "àéîõüßçñ日本語"
        self.pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
        while len(self.pieces) < size:
            word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
            self.pieces.append(("\u2581" if rng.random() < 0.6 else "") + word)
        self.all_special_ids = [0, 1, 2]
        self.added_tokens_decoder: dict[int, Any] = {}
        self.backend_tokenizer = None

    def __len__(self) -> int:
        return len(self.pieces)

    def convert_ids_to_tokens(self, token_id: int) -> str:
        return self.pieces[token_id]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.pieces[i].replace("\u2581", " ") for i in ids)

    def __call__(self, text: str, **_: Any) -> dict[str, list[Any]]:
        return {"input_ids": [], "offset_mapping": []}


def timed(label: str, fn: Any) -> Any:
    start = time.perf_counter()
    result = fn()
    print(f"{label:<44} {1000 * (time.perf_counter() - start):9.1f} ms")
    return result


def bench_search(table: TokenTable) -> None:
    timed("build texts() (once per tokenizer)", table.texts)
    for mode, query in [
        ("substring", "ab"),
        ("substring", "zzzq"),
        ("regex", "^[A-Z][a-z]+$"),
        ("id", "1000-200000"),
    ]:
        ids = timed(f"search {mode} {query!r}", lambda m=mode, q=query: list(search_vocab(table, q, m)))
        print(f"{'':<44} {len(ids):>9,} matches")


class Harness(App):
    def compose(self) -> ComposeResult:
        yield TokenizerPane(id="tokenizer")


async def bench_ui(table: TokenTable, keys: int) -> None:
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TokenizerPane)
        start = time.perf_counter()
        pane.set_tokenizer(table, "synthetic")
        pane.show_view("vocab")
        vocab = app.query_one("#vocab-list", VocabList)
        while vocab.row_count != table.size or not vocab.size.height:
            await pilot.pause(0.01)
        print(f"{'show whole vocabulary in the list':<44} {1000 * (time.perf_counter() - start):9.1f} ms")
        vocab.focus()

        async def press_all(label: str, key_names: list[str]) -> None:
            times = []
            for key in key_names:
                t0 = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()  # let the screen redraw
                times.append(time.perf_counter() - t0)
            print(
                f"{label:<44} {1000 * statistics.median(times):9.1f} ms median, "
                f"{1000 * max(times):.1f} ms worst ({len(times)} keys)"
            )

        await press_all("baseline: an unbound key (Pilot's own cost)", ["f12"] * keys)
        await press_all("pagedown (draw a new page each)", ["pagedown"] * keys)
        await press_all("down", ["down"] * keys)
        await press_all("end / home", ["end", "home"] * (keys // 10))
        assert vocab.cursor_id in (0, table.size - 1)

        # The drawing alone: one full page of rows at scattered offsets.
        rng = random.Random(1)
        times = []
        for _ in range(keys):
            vocab.scroll_to(y=rng.randrange(table.size), animate=False)
            t0 = time.perf_counter()
            for y in range(vocab.size.height):
                vocab.render_line(y)
            times.append(time.perf_counter() - t0)
        print(
            f"{'render_line for one page (' + str(vocab.size.height) + ' rows)':<44} {1000 * statistics.median(times):9.2f} ms median"
        )

        # A search over the whole vocabulary runs in a thread: keys keep being answered.
        query = app.query_one("#vocab-query")
        query.focus()
        start = time.perf_counter()
        pane.action_cycle_mode()  # substring -> regex
        await pilot.press(*"a.c")
        worst = 0.0
        while "match" not in str(app.query_one("#vocab-count").content):
            t0 = time.perf_counter()
            await pilot.pause(0.01)
            worst = max(worst, time.perf_counter() - t0 - 0.01)
        print(
            f"{'regex search a.c in the UI (incl. 0.1 s pause)':<44} {1000 * (time.perf_counter() - start):9.1f} ms"
        )
        print(f"{'  longest UI stall while it ran':<44} {1000 * worst:9.1f} ms")
        print(f"{'':<44} {app.query_one('#vocab-count').content}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=262_144)
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    tokenizer = timed(f"synthetic tokenizer, {args.size:,} entries", lambda: SyntheticTokenizer(args.size))
    bench_search(TokenTable(tokenizer))
    asyncio.run(bench_ui(TokenTable(tokenizer), args.keys))  # a fresh table: first search builds texts()


if __name__ == "__main__":
    main()
