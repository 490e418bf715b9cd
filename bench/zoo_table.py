"""How the engine branches on every family of the test zoo: cache type, strategy, forward passes.

For each tiny random model of ``tests/zoo.py`` (sliding-window families get a window of
``WINDOW`` tokens), decode greedily past twice the window, then measure two moves of the
engine's ``Decoder``:

- (a) a one-token branch switch: the sibling that differs in the last token only;
- (b) going back before an earlier crop's window: to just after the prompt, after (a) cropped.

Prints one Markdown table: the family, its model class, the KV cache the engine holds (the
transformers cache class and its layer types), and for each move the strategy the engine used
(``crop`` of the cache, or ``recompute`` of the prefix after a cleared cache), the forward passes
it cost (a forward hook on the model, as tests/unit/test_zoo.py counts them: one entry per
pass, its token count), and max |p - p_fresh| against a fresh ``softmax(model(ids).logits[:, -1])``.
Every cell is measured; nothing is written down from the design.

    python bench/zoo_table.py
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from tests.zoo import counted_forwards  # noqa: E402

PROMPT = "The capital of France is"
NEW_TOKENS = 8  # with the 5-token prompt, past twice the sliding window (tests/zoo.py: WINDOW = 4)


@contextmanager
def cache_events() -> Iterator[list[str]]:
    """What the engine does to its KV cache: each ``DynamicCache.crop`` and each start-over."""
    from transformers import DynamicCache

    from workbench.engine.kvcache import KVCache

    events: list[str] = []
    crop, clear = DynamicCache.crop, KVCache.clear

    def spy_crop(self: Any, max_length: int) -> Any:
        events.append(f"crop({max_length})")
        return crop(self, max_length)

    def spy_clear(self: Any) -> None:
        events.append(f"clear({self.length})")
        clear(self)

    DynamicCache.crop, KVCache.clear = spy_crop, spy_clear  # type: ignore[method-assign]
    try:
        yield events
    finally:
        DynamicCache.crop, KVCache.clear = crop, clear  # type: ignore[method-assign]


def fresh_p(loaded: Any, ids: list[int]) -> torch.Tensor:
    """What every tutorial writes: softmax(model(ids).logits[:, -1], -1), no cache."""
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ids])).logits[:, -1]
    return torch.softmax(logits.float(), -1)[0]


def cache_description(decoder: Any) -> str:
    """The transformers cache class the decoder holds and its layers, e.g. ``DynamicCache: 2 sliding + 1 full``."""
    cache = decoder._cache._cache  # KVCache -> transformers' DynamicCache
    counts: dict[str, int] = {}
    for layer in getattr(cache, "layers", []):
        name = type(layer).__name__
        if getattr(layer, "record_past", False):
            name += " (records past)"
        counts[name] = counts.get(name, 0) + 1
    layers = " + ".join(f"{n} {name}" for name, n in counts.items())
    return f"{type(cache).__name__}: {layers}"


def move(decoder: Any, loaded: Any, ids: list[int], sampler: Any) -> tuple[str, str, float]:
    """``reset_to(ids)`` and the next distribution: (strategy, passes, max |dp| vs fresh)."""
    held = decoder._cache.length
    with cache_events() as events, counted_forwards(loaded.model) as calls:
        decoder.reset_to(ids)
        kept = decoder._cache.length
        p = decoder.distribution(sampler).p
    assert decoder.ids == ids
    if any(e.startswith("clear") for e in events):
        strategy = f"recompute all {len(ids)} (the {held} cached cannot be cut to {len(ids) - 1})"
    elif any(e.startswith("crop") for e in events):
        strategy = f"crop {held} -> {kept}"
    else:
        strategy = f"reuse all {held}"
    passes = " + ".join(f"{n} tok" for n in calls) or "none"
    return strategy, f"{len(calls)}: {passes}", p.sub(fresh_p(loaded, ids)).abs().max().item()


def family_row(family: str) -> list[str]:
    from tests.zoo import SLIDING, WINDOW, zoo_loaded
    from workbench.engine.decoding import Decoder
    from workbench.engine.sampling import Sampler
    from workbench.engine.settings import SamplingSettings

    greedy = Sampler(SamplingSettings(do_sample=False))
    loaded = zoo_loaded(family)
    prompt = loaded.tokenizer(PROMPT).input_ids
    decoder = Decoder(loaded, prompt)
    for _ in range(NEW_TOKENS):
        decoder.step(greedy)
    full = decoder.ids
    decoder.distribution(greedy)  # the cache now holds all of ``full``
    window = str(WINDOW) if family in SLIDING else "-"
    cache = cache_description(decoder)

    # (a) the sibling that differs in the last token only (its runner-up, from another decoder)
    before_last = Decoder(loaded, full[:-1]).distribution(greedy, 5).candidates
    alt = next(c.token_id for c in before_last if c.token_id != full[-1])
    a = move(decoder, loaded, full[:-1] + [alt], greedy)
    # (b) back to just after the prompt, before the window of the crop in (a)
    b = move(decoder, loaded, full[: len(prompt) + 1], greedy)
    return [
        family,
        type(loaded.model).__name__,
        window,
        cache,
        str(len(full)),
        a[0],
        a[1],
        f"{a[2]:.1e}",
        b[0],
        b[1],
        f"{b[2]:.1e}",
    ]


def main() -> None:
    torch.set_num_threads(1)
    from bench.scratch import scratch_home
    from tests.zoo import FAMILIES

    header = [
        "family",
        "model class",
        "window",
        "KV cache (layers)",
        "sequence",
        "(a) one-token switch: strategy",
        "(a) passes: tokens",
        "(a) max abs dp vs fresh",
        "(b) back before the crop's window: strategy",
        "(b) passes: tokens",
        "(b) max abs dp vs fresh",
    ]
    with scratch_home():
        rows = [family_row(family) for family in FAMILIES]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
