"""The logit lens and text scoring on the default model, against the plain forward pass.

Prints, measured side by side in one run (median of --repeat):
- a plain forward pass over a text; the lens of one position from scratch (the same pass with
  output_hidden_states, then every layer through the norm and lm_head); the lens of another
  position of the same text (the pass cached: norm + lm_head only);
- scoring the text in one window against a sliding window of --window tokens, --stride apart.

    python bench/lens_score.py [--tokens 400] [--repeat 5] [--window 128] [--stride 64] [--dtype float32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PARAGRAPH = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is "
    "named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 "
    "to 1889. Locally nicknamed La dame de fer, it was constructed as the centrepiece of the 1889 "
    "World's Fair. "
)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    import torch

    from workbench.engine import lens
    from workbench.engine.loading import load_model
    from workbench.engine.scoring import score_ids
    from workbench.engine.settings import LoadSettings

    loaded = load_model(LoadSettings(model="default", device="cpu", dtype=args.dtype))
    ids = loaded.tokenizer.encode(PARAGRAPH * (args.tokens // 60 + 1))[: args.tokens]
    tensor = torch.tensor([ids])
    print(
        f"{loaded.source.display_name}, {loaded.dtype_name}, {len(ids)} tokens, torch threads {torch.get_num_threads()}"
    )

    def plain() -> None:
        with torch.inference_mode():
            loaded.model(tensor, use_cache=False)

    def lens_fresh() -> None:
        lens.clear_cache()
        lens.logit_lens(loaded, ids, len(ids) // 2, 8)

    lens.logit_lens(loaded, ids, 10, 8)  # (fills the cache for the next line)
    forward = median_ms(plain, args.repeat)
    fresh = median_ms(lens_fresh, args.repeat)
    lens.logit_lens(loaded, ids, 10, 8)
    cached = median_ms(lambda: lens.logit_lens(loaded, ids, len(ids) // 3, 8), args.repeat)
    print(f"plain forward pass          {forward:8.1f} ms   1.00x")
    print(f"lens, fresh (pass + layers) {fresh:8.1f} ms   {fresh / forward:.2f}x")
    print(f"lens, another position      {cached:8.1f} ms   {cached / forward:.2f}x  (cached pass)")

    one = median_ms(lambda: score_ids(loaded, ids, window=len(ids), stride=len(ids) - 1), args.repeat)
    slid = median_ms(lambda: score_ids(loaded, ids, window=args.window, stride=args.stride), args.repeat)
    windows = len(range(0, len(ids), args.stride))
    print(f"score, one window           {one:8.1f} ms   1.00x")
    print(
        f"score, window {args.window} stride {args.stride:<4}  {slid:8.1f} ms   {slid / one:.2f}x  (~{windows} passes)"
    )


if __name__ == "__main__":
    main()
