"""Load a tokenizer and model onto a device and dtype, with progress reports.

A GGUF file is de-quantised to float32 by transformers (seconds per load); we keep the
result as a safetensors folder in the user cache so later loads of the same file take a
fraction of that time.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
import shlex
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from workbench import paths
from workbench.engine.devices import DevicePlan, choose_dtype, placed_devices, plan_device
from workbench.engine.errors import ModelLoadError, ModelSourceError, WorkbenchError
from workbench.engine.progress import (
    LoadProgress,
    ProgressCallback,
    callback_tqdm,
    gguf_dequantisation_progress,
    quiet_libraries,
)
from workbench.engine.quantize import bnb_config, check_quantize
from workbench.engine.settings import LoadSettings, parse_max_memory
from workbench.engine.sources import ModelSource, resolve_source

if TYPE_CHECKING:
    from workbench.engine.compiled import StaticDecoding

log = logging.getLogger(__name__)
CACHE_FORMAT = 1  # bump when the cached folder layout changes


@dataclass(slots=True)
class LoadedModel:
    """A model ready to decode, with what the UI shows about it."""

    model: PreTrainedModel
    tokenizer: Any  # a transformers tokenizer (fast, "TokenizersBackend", or slow)
    source: ModelSource
    settings: LoadSettings
    plan: DevicePlan
    dtype: torch.dtype
    load_seconds: float
    from_cache: bool = False
    eos_token_ids: frozenset[int] = field(default_factory=frozenset)
    dtype_reason: str = ""  # why this dtype, in one short line, e.g. "bfloat16: AMX-BF16 on this CPU"
    # --compile: the static caches and compiled step (engine/compiled.py); None decodes as usual
    static: StaticDecoding | None = None
    compile_note: str = ""  # what --compile could not do for this model, shown at load
    _table: Any = None
    _provenance: dict[str, Any] | None = None

    @property
    def table(self) -> Any:
        """The model's :class:`~workbench.engine.tokens.TokenTable`, shared by every decoder."""
        if self._table is None:
            from workbench.engine.tokens import TokenTable

            self._table = TokenTable(self.tokenizer)
        return self._table

    @classmethod
    def wrap(cls, model: PreTrainedModel, tokenizer: Any, name: str = "custom model") -> LoadedModel:
        """Use a model object you built or loaded yourself (scripts, notebooks, tests)."""
        device = str(next(model.parameters()).device)
        plan = DevicePlan(device)
        source = ModelSource("folder", name, spec=name)
        return cls(
            model=model.eval(),
            tokenizer=tokenizer,
            source=source,
            settings=LoadSettings(model=name),
            plan=plan,
            dtype=next(model.parameters()).dtype,
            load_seconds=0.0,
            eos_token_ids=_eos_ids(model, tokenizer),
            dtype_reason=f"{str(next(model.parameters()).dtype).removeprefix('torch.')}: as built by the caller",
        )

    @property
    def input_device(self) -> torch.device:
        """Where input ids go: the embedding's device (differs from others under device_map)."""
        weight = self.model.get_input_embeddings().weight
        assert isinstance(weight, torch.Tensor)  # (nn.Module attributes are typed Tensor | Module)
        return weight.device

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def quantization(self) -> str:
        """ "4-bit bnb", "8-bit bnb", or "" for weights in ``dtype`` (read from the model's config)."""
        from workbench.engine.quantize import quantization_label

        return quantization_label(self.model.config) if self.model is not None else ""

    @property
    def precision_label(self) -> str:
        """The weights as the status line shows them: "4-bit bnb", else the dtype; then " · compiled"
        with --compile (" · static cache" where it fell back to the uncompiled static cache)."""
        label = self.quantization or self.dtype_name
        if self.static is not None:
            label += " · compiled" if self.static.compiled else " · static cache"
        return label

    @property
    def context_length(self) -> int | None:
        config = self.model.config.get_text_config()
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def provenance(self) -> dict[str, Any]:
        """What ran, for sessions, exports and ``--json``: never ``auto`` or ``default``.

        Keys: ``model`` (display name), ``source`` (bundled|hub|folder|gguf), ``location`` (hub
        id or resolved folder), ``file`` (the .gguf name, GGUF sources), ``revision`` (hub
        commit in the local cache), ``sha256`` ({file name: hex} of the .gguf or weights files,
        hashed once per file and cached), ``device``, ``dtype``, ``dtype_reason``, ``torch``,
        ``transformers``. Computed on first call, then kept.
        """
        if self._provenance is None:
            from workbench.engine.provenance import provenance_record

            self._provenance = provenance_record(self)
        return dict(self._provenance)

    def release(self) -> None:
        """Drop the weights and return accelerator memory (before loading another model)."""
        if self.static is not None:
            self.static.release()
            self.static = None
        self.model = None  # type: ignore[assignment]
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def load_model(settings: LoadSettings | None = None, progress: ProgressCallback | None = None) -> LoadedModel:
    """Load ``settings.model`` (resolved with :func:`resolve_source`) and its tokenizer."""
    settings = settings or LoadSettings()
    report = progress or (lambda _: None)
    quiet_libraries()
    source = resolve_source(settings.model)
    max_memory = parse_max_memory(settings.max_memory) if settings.max_memory else None
    plan = plan_device(settings.device, max_memory=max_memory)
    check_quantize(settings.quantize, plan)  # before any weights are read
    choice = choose_dtype(settings.dtype, plan)
    dtype = choice.dtype
    placement = _placement(settings, plan, dtype)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if source.gguf_file:
                model, tokenizer, from_cache = _load_gguf(source, dtype, report, placement)
            else:
                model, tokenizer = _load_pretrained(source, settings, dtype, placement, report)
                from_cache = False
            if "device_map" in placement:
                plan = replace(plan, placed=placed_devices(model))
                _refuse_disk_offload(source, settings, plan)
            else:
                report(LoadProgress(f"Moving to {plan.device}"))
                # transformers' decorated PreTrainedModel.to reads to mypy as an unbound method
                model = model.to(device=plan.device, dtype=dtype)  # type: ignore[call-arg]
    except WorkbenchError:
        raise
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise ModelLoadError(
            f"out of memory loading {source.display_name} on {plan.label} in {dtype}: "
            f"try a smaller dtype (bfloat16/float16), another device, or a smaller model ({_first_line(exc)})"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any library failure becomes one clear line
        raise ModelLoadError(f"could not load {source.display_name}: {_first_line(exc)}") from exc
    model.eval()
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        settings=settings,
        plan=plan,
        dtype=dtype,
        load_seconds=time.perf_counter() - started,
        from_cache=from_cache,
        eos_token_ids=_eos_ids(model, tokenizer),
        dtype_reason=choice.reason,
    )
    if settings.compile:
        from workbench.engine.compiled import enable_static_decoding

        report(LoadProgress("Preparing the static KV cache"))
        try:
            enable_static_decoding(loaded, compile=True, report=report)
        except Exception as exc:  # noqa: BLE001 - the model loaded: decode it as usual, and say so
            loaded.static = None
            loaded.compile_note = (
                f"--compile: the static KV cache failed ({_first_line(exc)}); decoding as usual"
            )
    # Here, on the loading thread: the first load of a file hashes it (once per file; cached).
    report(LoadProgress("Recording the model's provenance"))
    loaded.provenance()
    report(LoadProgress("Ready", 1, 1))
    return loaded


def load_tokenizer(settings: LoadSettings | None = None) -> Any:
    """Only the tokenizer (for tokenize/vocab commands): no weights are read."""
    settings = settings or LoadSettings()
    quiet_libraries()
    source = resolve_source(settings.model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if source.gguf_path is not None:
                cached = gguf_cache_folder(source.gguf_path)
                if (cached / "tokenizer.json").is_file():
                    return AutoTokenizer.from_pretrained(cached)
                _check_gguf_header(source.gguf_path)
                return AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
            return AutoTokenizer.from_pretrained(
                source.location, trust_remote_code=settings.trust_remote_code
            )
    except WorkbenchError:
        raise
    except OSError as exc:
        raise _not_found(source, exc) from exc
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"could not load the tokenizer of {source.display_name}: {_first_line(exc)}"
        ) from exc


def _placement(settings: LoadSettings, plan: DevicePlan, dtype: torch.dtype) -> dict[str, Any]:
    """``from_pretrained`` keywords that place the weights: device_map, max_memory, quantization.

    Empty for a plain single-device load (the model is moved with ``.to()`` afterwards).
    Quantized weights are placed by ``from_pretrained`` itself: bitsandbytes models refuse ``.to()``.
    """
    placement: dict[str, Any] = {}
    if plan.device_map:
        placement["device_map"] = plan.device_map
        if plan.max_memory:
            placement["max_memory"] = dict(plan.max_memory)
    if settings.quantize != "none":
        placement["quantization_config"] = bnb_config(settings.quantize, dtype)
        placement.setdefault("device_map", {"": plan.device})
    return placement


def _refuse_disk_offload(source: ModelSource, settings: LoadSettings, plan: DevicePlan) -> None:
    """accelerate puts what fits nowhere on "disk" (meta tensors, read back layer by layer, very
    slowly): we refuse that instead, saying which caps to raise."""
    if "disk" in plan.placed or "meta" in plan.placed:
        caps = f"--max-memory {settings.max_memory}" if settings.max_memory else "the free memory"
        raise ModelLoadError(
            f"{source.display_name} does not fit in {caps}: accelerate would offload part of it to disk; "
            "raise the sizes (e.g. cpu=64GiB for the rest in RAM), or use --quantize 4bit on a GPU"
        )


def _load_pretrained(
    source: ModelSource,
    settings: LoadSettings,
    dtype: torch.dtype,
    placement: dict[str, Any],
    report: ProgressCallback,
) -> tuple[PreTrainedModel, Any]:
    """A hub id or a local folder. Hub files come from the HF cache or are downloaded."""
    common: dict[str, Any] = {"trust_remote_code": settings.trust_remote_code}
    if source.kind == "hub":
        common["local_files_only"] = _hub_files_are_local(source, report)
    _refuse_non_generative(source, common)
    report(LoadProgress("Loading tokenizer"))
    with _pretrained_errors(source):
        tokenizer = AutoTokenizer.from_pretrained(source.location, **common)
    report(LoadProgress("Loading weights"))
    kwargs: dict[str, Any] = dict(common, dtype=dtype, use_safetensors=None)
    if source.kind == "hub":
        kwargs["tqdm_class"] = callback_tqdm(report, "Downloading")
    kwargs.update(placement)
    with _pretrained_errors(source):
        model = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    return model, tokenizer


# Encoder-only families: a checkpoint of one of these without a causal-LM architecture named
# in its config cannot continue text (AutoModelForCausalLM would still build BERT or RoBERTa
# "as a decoder" with a random head, or fail with a list of config classes).
_ENCODER_ONLY = frozenset(
    {
        "albert", "bert", "camembert", "convbert", "deberta", "deberta-v2", "distilbert", "electra",
        "ernie", "flaubert", "funnel", "ibert", "megatron-bert", "mobilebert", "modernbert", "mpnet",
        "nezha", "rembert", "roberta", "roberta-prelayernorm", "roformer", "squeezebert", "xlm",
        "xlm-roberta", "xlm-roberta-xl",
    }
)  # fmt: skip
_GENERATIVE = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
_OTHER_HEADS = ("ForTokenClassification", "ForQuestionAnswering", "ForMultipleChoice")


def _refuse_non_generative(source: ModelSource, options: dict[str, Any]) -> None:
    """A classifier or an encoder-only model opened for chat: say what it is and what takes it.

    Read from the config's ``architectures`` (and ``model_type``) before any weights: without
    this, a ``LlamaForSequenceClassification`` checkpoint loads as a causal LM with a randomly
    initialised head and answers noise, and a BERT masked LM becomes a "decoder" it never was.
    A config that cannot be read is left to the loading that follows to report.
    """
    from transformers import AutoConfig

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AutoConfig.from_pretrained(source.location, **options)
    except Exception:  # noqa: BLE001 - reported by the tokenizer or model load, as before
        return
    architectures = [str(a) for a in getattr(config, "architectures", None) or []]
    if any(a.endswith(_GENERATIVE) for a in architectures):
        return
    model_type = str(getattr(config, "model_type", "") or "")
    name, spec = source.display_name, shlex.quote(source.location)
    named = architectures[0] if architectures else model_type
    classifier = next((a for a in architectures if a.endswith("ForSequenceClassification")), None)
    if classifier is not None:
        raise ModelLoadError(
            f"{name} is a sequence-classification model ({classifier}): it gives label "
            "probabilities for a whole text and cannot chat or continue text; classify with it: "
            f"workbench classify 'TEXT' --model {spec} (or the Classify tab, F9)"
        )
    masked = next((a for a in architectures if a.endswith("ForMaskedLM")), None)
    if masked is not None:
        raise ModelLoadError(
            f"{name} is a masked language model ({masked}, encoder-only): it fills in [MASK] "
            "tokens and cannot chat or continue text; fill masks with it: "
            f"workbench fill 'The capital of France is [MASK].' --model {spec} (or the Fill tab, F10)"
        )
    other = next((a for a in architectures if a.endswith(_OTHER_HEADS)), None)
    if other is not None and model_type not in _ENCODER_ONLY:
        raise ModelLoadError(
            f"{name} is a {other} model: it has a task head instead of a language-model head and "
            "cannot chat or continue text"
        )
    if model_type in _ENCODER_ONLY:
        raise ModelLoadError(
            f"{name} is an encoder-only model ({named}): it cannot chat or continue text; "
            "workbench fill takes a masked language model (...ForMaskedLM) and workbench classify "
            "a sequence classifier (...ForSequenceClassification)"
        )


@contextlib.contextmanager
def _pretrained_errors(source: ModelSource) -> Iterator[None]:
    """``from_pretrained``'s failures as the user-facing errors: not found, or needs remote code."""
    try:
        yield
    except OSError as exc:
        raise _not_found(source, exc) from exc
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(_remote_code_message(source)) from exc
        raise


def _hub_files_are_local(source: ModelSource, report: ProgressCallback) -> bool:
    """True when the HF cache already has this model (then the network is not touched).

    Otherwise ask the hub once, with a short timeout, so that an unknown id or a missing
    network gives one clear error at once instead of minutes of download retries.
    """
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        huggingface_hub.snapshot_download(
            source.location, local_files_only=True, allow_patterns=["config.json"]
        )
        if huggingface_hub.try_to_load_from_cache(source.location, "config.json"):
            return True
    except Exception:  # noqa: BLE001 - not cached (or partly): fall through to the hub
        pass
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise _not_found(source, OSError("offline"))
    report(LoadProgress("Contacting the Hugging Face hub"))
    try:
        huggingface_hub.HfApi().model_info(source.location, timeout=10)
    except GatedRepoError:
        raise ModelSourceError(
            f"model {source.location!r} is gated: accept its licence on huggingface.co and set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise ModelSourceError(
            f"no model {source.location!r} on the Hugging Face hub (check the spelling; private models need HF_TOKEN)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS failure, timeout
        raise ModelSourceError(
            f"model {source.location!r} is not in the Hugging Face cache and the hub cannot be reached "
            f"({_first_line(exc)}); connect to the network or use a local folder or .gguf file"
        ) from None
    return False


def _remote_code_message(source: ModelSource) -> str:
    return (
        f"{source.display_name} needs custom code from its repository; if you trust it, "
        "turn on trust_remote_code for this model (--trust-remote-code)"
    )


def _not_found(source: ModelSource, exc: Exception) -> ModelSourceError:
    if source.kind == "hub":
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
        reason = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached or has no such model"
        return ModelSourceError(
            f"model {source.location!r} is not in the Hugging Face cache and {reason}; "
            "check the id, log in (HF_TOKEN) for gated models, or use a local folder or .gguf file"
        )
    return ModelSourceError(f"{source.location} holds no loadable model: {_first_line(exc)}")


# --- GGUF ------------------------------------------------------------------------------


def gguf_cache_folder(gguf_path: Path) -> Path:
    """Where the de-quantised copy of ``gguf_path`` lives: keyed by path, size, mtime, versions."""
    stat = gguf_path.stat()
    key = f"{gguf_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{transformers.__version__}|{CACHE_FORMAT}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return paths.gguf_cache_dir() / f"{gguf_path.stem}-{digest}"


def _load_gguf(
    source: ModelSource, dtype: torch.dtype, report: ProgressCallback, placement: dict[str, Any] | None = None
) -> tuple[PreTrainedModel, Any, bool]:
    """The de-quantised GGUF weights; with ``placement`` (device_map, quantization) they are
    read from the safetensors cache, written first when the file is new."""
    gguf_path = source.gguf_path
    assert gguf_path is not None
    cached = gguf_cache_folder(gguf_path)
    if (cached / "model.safetensors").is_file():
        report(LoadProgress("Loading cached de-quantised weights"))
        try:
            tokenizer = AutoTokenizer.from_pretrained(cached)
            model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype, **(placement or {}))
            return model, tokenizer, True
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
            log.warning("discarding damaged GGUF cache %s: %s", cached, exc)
            shutil.rmtree(cached, ignore_errors=True)

    _check_gguf_header(gguf_path)
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        report(LoadProgress("Reading tokenizer from GGUF"))
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        with gguf_dequantisation_progress(report):
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (torch.OutOfMemoryError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"could not read GGUF file {gguf_path.name}: it looks truncated, corrupt or of an "
            f"unsupported architecture ({_first_line(exc)})"
        ) from exc
    report(LoadProgress("Caching de-quantised weights"))
    _save_gguf_cache(model, tokenizer, cached)
    if placement:  # device_map or quantization: placed by from_pretrained, from the cached copy
        if not (cached / "model.safetensors").is_file():
            raise ModelLoadError(
                f"could not cache the de-quantised weights of {gguf_path.name}, which --device auto "
                "with --max-memory and --quantize load from; check the cache folder's free space"
            )
        del model
        gc.collect()
        report(LoadProgress("Loading cached de-quantised weights"))
        return AutoModelForCausalLM.from_pretrained(cached, dtype=dtype, **placement), tokenizer, False
    return model, tokenizer, False


def _check_gguf_header(path: Path) -> None:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelLoadError(f"{path.name} is not a GGUF file (it does not start with the GGUF magic bytes)")


def _save_gguf_cache(model: PreTrainedModel, tokenizer: Any, folder: Path) -> None:
    """Write the float32 weights, config and tokenizer; atomically, so a crash leaves no half folder.

    ``save_pretrained`` refuses GGUF-loaded models, so the pieces are saved one by one.
    """
    from safetensors.torch import save_model

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        model.config.__class__.from_dict(config).save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except Exception as exc:  # noqa: BLE001 - no cache is only slower, not broken
        log.warning("could not cache de-quantised GGUF weights in %s: %s", folder, exc)
        shutil.rmtree(tmp, ignore_errors=True)


# --- helpers ---------------------------------------------------------------------------


def _eos_ids(model: PreTrainedModel, tokenizer: Any) -> frozenset[int]:
    """Every id that ends a reply: the generation config's (often a list: Llama 3 stops at
    <|eot_id|>, <|eom_id|> and <|end_of_text|>), the model config's, the tokenizer's, and the
    token the chat template closes a turn with."""
    from workbench.engine.prompts import template_end_of_turn_ids

    ids: set[int] = set()
    for config in (model.generation_config, model.config):
        config_eos = getattr(config, "eos_token_id", None)
        if isinstance(config_eos, int):
            ids.add(config_eos)
        elif isinstance(config_eos, (list, tuple)):
            ids.update(int(i) for i in config_eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    ids.update(template_end_of_turn_ids(tokenizer))
    return frozenset(ids)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
