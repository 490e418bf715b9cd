"""``--compile``: decoding with a static KV cache and a ``torch.compile``d decoding step.

What ``model.generate(cache_implementation="static")`` does on a GPU, made to fit the Decoder:
the prompt (several tokens at once) runs eagerly, and each one-token step runs through
``torch.compile(model.__call__)`` over a ``StaticCache``, whose fixed-size tensors keep the
graph's shapes, and so the compiled code, the same from step to step.

Fitting a Decoder that goes back and branches:
- Going back crops the static cache (``StaticLayer.crop`` moves its length back; the stale
  keys past it are masked and later overwritten), so rewind, reset_to and branches keep the
  cached prefix as the dynamic cache does. A sliding-window layer that has rolled past its
  window cannot be cropped: the prefix is recomputed then.
- A static cache has a fixed length. Caches come in sizes (256, 512, ... up to the model's
  context), made when first needed; a sequence that outgrows its size moves to the next one
  and its prefix is recomputed once. Each new size compiles the step once more; that time is
  counted in ``compile_seconds`` and kept out of tokens per second.
- One cache per size is shared by every Decoder of the model: a Decoder that finds its cache
  taken by another one (two branches compared, a probe beside a reply) recomputes its prefix.

What it cannot do, with the notice ``note`` (shown at load): a model class without static
cache support decodes with the dynamic cache; a quantized model whose quantizer cannot be
compiled (bitsandbytes), or a model offloaded in part to the CPU or disk, or a failed
compile, decodes with the static cache uncompiled.

Threads: everything here runs on the engine thread; the progress ticker only reports.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import torch
from transformers import PreTrainedModel, StaticCache
from transformers.cache_utils import StaticLayer, StaticSlidingWindowLayer

from workbench.engine.kvcache import _forward_keywords
from workbench.engine.progress import LoadProgress, ProgressCallback
from workbench.engine.quantize import quantization_label

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

FIRST_SIZE = 256  # the smallest static cache, in tokens
UNKNOWN_CONTEXT = 32768  # the largest cache for a model that does not say its context length


class StaticDecoding:
    """A model's static caches (one per size) and its compiled one-token step."""

    def __init__(self, model: PreTrainedModel, context_length: int | None, compile: bool = True) -> None:
        self.model = model
        self.limit = context_length or UNKNOWN_CONTEXT
        self._caches: dict[int, StaticCache] = {}
        self._owners: dict[int, object] = {}
        self.compiled = compile
        self.mode = "default"
        self.note = ""  # what compile mode does not do for this model, shown at load
        self.compile_seconds = 0.0  # every compile so far (first one and new sizes)
        self.first_compile_seconds: float | None = None
        self.recompiles = 0  # compiles after the first (new cache sizes, failed guards)
        self._ready: set[int] = set()  # sizes whose step has been compiled
        self._step: Any = model.__call__
        if compile:
            self._compile()

    def _compile(self) -> None:
        device = next(self.model.parameters()).device
        # CUDA graphs ("reduce-overhead", generate's default) on one GPU; plain inductor elsewhere.
        split = len(set(getattr(self.model, "hf_device_map", {}).values())) > 1
        self.mode = "reduce-overhead" if device.type == "cuda" and not split else "default"
        self._step = torch.compile(self.model.__call__, fullgraph=False, dynamic=False, mode=self.mode)
        self.compiled = True

    def uncompiled(self, why: str) -> None:
        """Fall back to the static cache without torch.compile, saying why."""
        self._step = self.model.__call__
        self.compiled = False
        self.note = f"--compile: {why}; decoding with the static KV cache, not compiled"

    @property
    def description(self) -> str:
        """For provenance: what decoding ran with, in a few words."""
        if not self.compiled:
            return "static cache (not compiled)"
        return f"static cache + torch.compile (inductor, {self.mode})"

    # --- caches ---------------------------------------------------------------------

    def size_for(self, length: int) -> int:
        """The smallest cache size that holds ``length`` tokens (at most the context)."""
        size = FIRST_SIZE
        while size < length and size < self.limit:
            size *= 2
        return min(size, self.limit) if length <= self.limit else length

    @torch.inference_mode()
    def acquire(self, owner: object, size: int) -> StaticCache:
        """The cache of ``size`` for ``owner``; emptied when it last belonged to someone else."""
        cache = self._caches.get(size)
        if cache is None:
            cache = self._caches[size] = StaticCache(config=self.model.config, max_cache_len=size)
        elif self._owners.get(size) is not owner:
            cache.reset()
        self._owners[size] = owner
        return cache

    def owns(self, owner: object, size: int) -> bool:
        return self._owners.get(size) is owner

    def release(self) -> None:
        self._caches.clear()
        self._owners.clear()

    # --- the step -------------------------------------------------------------------

    def step(self, size: int, **inputs: Any) -> Any:
        """One token through the (compiled) model; the first call at a new size compiles."""
        if not self.compiled:
            return self.model(**inputs)
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's outputs were copied
        graphs = compiled_graphs()
        started = time.perf_counter()
        output = self._step(**inputs)
        # A call that compiled (a new cache size, or any guard that failed) counts as compile
        # time, not decoding time: dynamo's graph counter says whether it did.
        if size not in self._ready or compiled_graphs() != graphs:
            seconds = time.perf_counter() - started
            self._ready.add(size)
            self.compile_seconds += seconds
            self.recompiles += self.first_compile_seconds is not None
            if self.first_compile_seconds is None:
                self.first_compile_seconds = seconds
        return output

    @torch.inference_mode()
    def warm_up(self, device: torch.device, report: ProgressCallback) -> None:
        """Compile the step for the first cache size now (at load), reporting the time as it passes."""
        if not self.compiled:
            return
        owner = object()
        cache = self.acquire(owner, FIRST_SIZE)
        keyword, keep = _forward_keywords(self.model)
        kwargs: dict[str, Any] = {keyword: cache, "use_cache": True}
        if keep:
            kwargs["logits_to_keep"] = 1
        ids = torch.zeros((1, 2), dtype=torch.long, device=device)
        self.model(input_ids=ids, **kwargs)  # the prompt runs eagerly, as in a Decoder
        with _ticking(report, "Compiling the decoding step"):
            try:
                # a fresh [1, 1] tensor, as a Decoder passes: a slice of ids has other strides,
                # which the compiled graph guards on (it would compile again at the first token)
                one = torch.zeros((1, 1), dtype=torch.long, device=device)
                self.step(FIRST_SIZE, input_ids=one, **kwargs)
            except Exception as exc:  # noqa: BLE001 - no compiler, an unsupported op: decode uncompiled
                self.uncompiled(f"torch.compile failed ({_first_line(exc)})")
                self._ready.clear()
        cache.reset()
        self._owners.pop(FIRST_SIZE, None)
        if self.compiled and self.first_compile_seconds is not None:
            report(LoadProgress(f"Compiled the decoding step in {self.first_compile_seconds:.1f} s", 1, 1))


def compiled_graphs() -> int:
    """How many graphs dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


class StaticKVCache:
    """The :class:`~workbench.engine.kvcache.KVCache` interface over a :class:`StaticDecoding`."""

    def __init__(self, static: StaticDecoding) -> None:
        self._static = static
        self._keyword, self._keep_last_only = _forward_keywords(static.model)
        self._size = 0  # the cache size in use (0: none yet)
        self._length = 0

    @property
    def length(self) -> int:
        """Tokens cached; 0 once another Decoder has taken the cache."""
        if self._size and self._static.owns(self, self._size):
            return self._length
        return 0

    def reserve(self, total: int) -> None:
        """Make room for a sequence of ``total`` tokens: a larger cache (prefix recomputed) if needed."""
        size = self._static.size_for(total)
        if size > self._size or not self._static.owns(self, self._size):
            self._size = max(size, self._size)
            self._static.acquire(self, self._size)
            self._length = 0

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Run ``input_ids`` after the cached prefix; logits of the last position (a copy)."""
        count = input_ids.shape[1]
        if not self.length and self._length or self._length + count > self._size:
            raise RuntimeError("StaticKVCache.forward needs reserve() for the whole sequence first")
        cache = self._static.acquire(self, self._size)  # (already ours: reserve() took it)
        kwargs: dict[str, Any] = {self._keyword: cache, "use_cache": True}
        if self._keep_last_only:
            kwargs["logits_to_keep"] = 1
        if count == 1:
            output = self._static.step(self._size, input_ids=input_ids, **kwargs)
        else:  # the prompt, or a recomputed prefix: eager, as generate's prefill
            output = self._static.model(input_ids=input_ids, **kwargs)
        self._length += count
        # A copy: CUDA graphs reuse their output buffers on the next step.
        return output.logits[0, -1].clone()

    def reusable(self, length: int) -> int:
        length = max(0, min(length, self.length))
        if length == self.length:
            return length
        cache = self._static._caches.get(self._size)
        layers = getattr(cache, "layers", None)
        if not layers or not all(_static_layer_can_crop(layer) for layer in layers):
            return 0
        return length

    # The caches' tensors are made under inference mode (in Decoder.logits): so are their updates.
    @torch.inference_mode()
    def truncate(self, length: int) -> None:
        if length >= self.length:
            return
        if length > 0 and self.reusable(length) == length:
            self._static._caches[self._size].crop(-(self._length - length))
            self._length = length
            return
        self.clear()

    @torch.inference_mode()
    def clear(self) -> None:
        if self._size and self._static.owns(self, self._size):
            self._static._caches[self._size].reset()
        self._length = 0


def _static_layer_can_crop(layer: Any) -> bool:
    """Full-attention static layers crop to any length; a sliding one only before it rolls."""
    if isinstance(layer, StaticSlidingWindowLayer):
        return bool(layer.is_croppable or layer.cumulative_length_int <= layer.max_cache_len)
    return type(layer) is StaticLayer


def enable_static_decoding(
    loaded: LoadedModel, compile: bool = True, report: ProgressCallback | None = None
) -> StaticDecoding | None:
    """Give ``loaded`` static-cache decoding (``compile``: with torch.compile), compiled now.

    Returns None, with ``loaded.compile_note`` saying why, for a model class without static
    cache support: its Decoders keep the dynamic cache.
    """
    report = report or (lambda _: None)
    model = loaded.model
    if not getattr(model, "_can_compile_fullgraph", False):
        loaded.compile_note = (
            f"--compile: {type(model).__name__} does not support a static KV cache in transformers; "
            "decoding with the dynamic cache, not compiled"
        )
        return None
    static = StaticDecoding(model, loaded.context_length, compile=False)
    if compile:
        quantizer = getattr(model, "hf_quantizer", None)
        devices = set(getattr(model, "hf_device_map", {}).values())
        if quantizer is not None and quantization_label(model.config) and not quantizer.is_compileable:
            static.uncompiled(f"{quantization_label(model.config)} weights cannot be compiled")
        elif {"cpu", "disk"} & devices and len(devices) > 1:
            static.uncompiled("part of the model is offloaded to the CPU or disk")
        else:
            static._compile()
            static.warm_up(loaded.input_device, report)
    loaded.static = static
    loaded.compile_note = static.note
    return static


class _Ticker:
    def __init__(self, report: ProgressCallback, stage: str) -> None:
        self.report, self.stage = report, stage
        self.done = threading.Event()

    def run(self) -> None:
        started = time.perf_counter()
        self.report(LoadProgress(f"{self.stage}…"))
        while not self.done.wait(1.0):  # the seconds first: a narrow status line cuts the end
            self.report(LoadProgress(f"{self.stage}: {time.perf_counter() - started:.0f} s"))


class _ticking:
    """Report ``stage`` with the seconds passed, once a second, while the block runs."""

    def __init__(self, report: ProgressCallback, stage: str) -> None:
        self._ticker = _Ticker(report, stage)
        self._thread = threading.Thread(target=self._ticker.run, name="compile-progress", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self._ticker.done.set()
        self._thread.join()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
