"""Progress reporting while a model loads, and the quieting of library progress bars.

transformers and huggingface_hub draw tqdm bars on stderr, which would tear through a
full-screen app. We turn their bars off and report through one callback instead.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm as _tqdm


@dataclass(frozen=True, slots=True)
class LoadProgress:
    """One progress report: a stage name and, when known, how far along it is."""

    stage: str
    done: float | None = None
    total: float | None = None

    @property
    def fraction(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


ProgressCallback = Callable[[LoadProgress], None]


def quiet_libraries() -> None:
    """Silence transformers' and huggingface_hub's own bars and chatter (idempotent)."""
    import huggingface_hub.utils
    import transformers.utils.logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
    huggingface_hub.utils.logging.set_verbosity_error()
    # accelerate warns through plain logging (stderr, which would tear through the app), e.g.
    # "Some parameters are on the meta device" for a device_map that offloads to the CPU.
    logging.getLogger("accelerate").setLevel(logging.ERROR)


def callback_tqdm(callback: ProgressCallback, stage: str) -> type:
    """A tqdm class (for ``tqdm_class=`` parameters) that reports to ``callback`` and draws nothing."""

    class _CallbackTqdm(_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["file"] = io.StringIO()
            kwargs["disable"] = False
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            result = super().update(n)
            callback(LoadProgress(stage, self.n, self.total))
            return result

    return _CallbackTqdm


_patch_lock = threading.Lock()


@contextlib.contextmanager
def gguf_dequantisation_progress(callback: ProgressCallback | None) -> Iterator[None]:
    """Report transformers' per-tensor GGUF de-quantisation loop through ``callback``.

    That loop takes no tqdm class; it calls the module-level name ``tqdm``, so we swap that
    name for the duration of one load (under a lock: loads do not overlap).
    """
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    def reporting(iterable: Iterable[Any], *_: Any, **__: Any) -> Iterator[Any]:
        items = list(iterable)
        for index, item in enumerate(items):
            if callback is not None:
                callback(LoadProgress("De-quantising GGUF tensors", index, len(items)))
            yield item
        if callback is not None:
            callback(LoadProgress("De-quantising GGUF tensors", len(items), len(items)))

    with _patch_lock:
        original = gguf_utils.tqdm
        gguf_utils.tqdm = reporting
        try:
            yield
        finally:
            gguf_utils.tqdm = original
