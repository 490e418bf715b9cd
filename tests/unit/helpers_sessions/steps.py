"""Deterministic, realistic-looking TokenStep records (float32-exact, so equality is exact)."""

from __future__ import annotations

import math
import random
import struct

from workbench.engine.steps import Candidate, TokenStep

WORDS = [
    "the",
    " the",
    " cat",
    "\n",
    " Paris",
    "é",
    "<0xE5>",
    "<|im_end|>",
    " [bold]",
    "\u241b",
    " is",
    ",",
    ".",
]


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def label_of(token_id: int) -> tuple[str, str]:
    """A token's label and kind: a pure function of the id, as the engine's TokenTable is."""
    if token_id % 97 == 0:
        return f"<0x{token_id % 256:02X}>", "bytes"
    if token_id % 89 == 0:
        return "<|im_end|>", "special"
    return WORDS[token_id % len(WORDS)] + str(token_id % 7 or ""), "text"


def make_steps(n: int, seed: int = 0, start: int = 0, k: int = 10) -> list[TokenStep]:
    rng = random.Random(seed)
    steps = []
    for i in range(start, start + n):
        ids = rng.sample(range(1, 49152), k)
        weights = sorted((rng.random() ** 3 for _ in range(k)), reverse=True)
        total = sum(weights) * 1.3
        ps = [f32(w / total) for w in weights]
        cut = rng.randint(1, k)
        q_total = sum(ps[:cut])
        qs = [f32(p / q_total) if j < cut else 0.0 for j, p in enumerate(ps)]
        cands = tuple(Candidate(t, *_lk(t, p, q)) for t, p, q in zip(ids, ps, qs, strict=True))
        if rng.random() < 0.9:
            rank = rng.randint(1, cut)
            chosen = cands[rank - 1]
            token_id, p, q = chosen.token_id, chosen.p, chosen.q
        else:  # chosen outside the top-k (picked by the user)
            rank, token_id, p, q = (
                rng.randint(k + 1, 40000),
                rng.randint(1, 49151),
                f32(rng.random() / 1000),
                0.0,
            )
        label, kind = label_of(token_id)
        steps.append(
            TokenStep(
                index=i,
                token_id=token_id,
                label=label,
                text=label.replace("\u241b", "\x1b") if kind == "text" else "",
                p=p,
                q=q,
                rank=rank,
                entropy=f32(-sum(x * math.log(x) for x in ps if x > 0)),
                candidates=cands,
                chosen_by=rng.choice(["sample", "greedy", "user"]),
                kind=kind,  # type: ignore[arg-type]
                is_end=i == start + n - 1 and seed % 2 == 0,
            )
        )
    return steps


def _lk(token_id: int, p: float, q: float) -> tuple[str, float, float, str]:
    label, kind = label_of(token_id)
    return label, p, q, kind


def make_reply(seed: int, n: int = 60) -> tuple[str, list[TokenStep]]:
    """A reply whose text is exactly the concatenation of its steps' texts."""
    steps = make_steps(n, seed)
    return "".join(s.text for s in steps), steps
