"""Load a model with a task head other than causal LM (a sequence classifier, a masked LM).

One path for every ``AutoModelFor...`` class: the source, device and dtype are chosen exactly
as ``load_model`` chooses them, hub ids stay offline when the cache holds them, and every
library failure becomes one :class:`ModelLoadError` line.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import ModelLoadError, WorkbenchError
from workbench.engine.progress import LoadProgress, ProgressCallback
from workbench.engine.settings import LoadSettings
from workbench.engine.sources import ModelSource

if TYPE_CHECKING:
    from workbench.engine.devices import DtypeChoice
    from workbench.engine.loading import LoadedModel


def read_config(source: ModelSource, settings: LoadSettings) -> Any:
    """The model's ``config.json``, read without its weights (one clear line when unreadable)."""
    from transformers import AutoConfig

    from workbench.engine.loading import _first_line, _hub_files_are_local, _pretrained_errors

    options: dict[str, Any] = {"trust_remote_code": settings.trust_remote_code}
    if source.kind == "hub":
        options["local_files_only"] = _hub_files_are_local(source, lambda _: None)
    try:
        with warnings.catch_warnings(), _pretrained_errors(source):
            warnings.simplefilter("ignore")
            return AutoConfig.from_pretrained(source.location, **options)
    except WorkbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable config is one clear line
        raise ModelLoadError(
            f"could not read the config of {source.display_name}: {_first_line(exc)}"
        ) from exc


def read_architectures(source: ModelSource, settings: LoadSettings) -> list[str]:
    """The architectures named in the model's ``config.json`` (empty when none are)."""
    return [str(a) for a in getattr(read_config(source, settings), "architectures", None) or []]


def checkpoint_dtype(config: Any) -> DtypeChoice:
    """``auto`` for a task head: the dtype the checkpoint names, as ``from_pretrained`` loads it.

    Classify and fill run one forward pass, so the speed the chat's ``auto`` buys with bfloat16
    matters little here, while ``p`` should be what ``softmax(model(**tok(text)).logits)``
    gives for the model as published (bfloat16 moved a tiny classifier's p by ~1e-3).
    """
    import torch

    from workbench.engine.devices import DtypeChoice

    named = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(named, str):
        named = getattr(torch, named, None)
    if named in (torch.float32, torch.bfloat16, torch.float16):
        name = str(named).removeprefix("torch.")
        return DtypeChoice(named, f"{name}: the checkpoint's own dtype (auto for one forward pass)")
    return DtypeChoice(torch.float32, "float32: the checkpoint names no dtype (auto for one forward pass)")


def load_head_model(
    source: ModelSource,
    settings: LoadSettings,
    auto_class: str,
    what: str,
    progress: ProgressCallback | None = None,
) -> tuple[LoadedModel, list[str]]:
    """``transformers.<auto_class>.from_pretrained`` on load_model's device and dtype.

    ``what`` names the model in messages ("classifier"). Returns the model and the weights the
    checkpoint lacked (``missing_keys``), which the caller judges: a missing head means noise.
    """
    import torch
    import transformers
    from transformers import AutoTokenizer

    from workbench.engine import loading
    from workbench.engine.devices import choose_dtype, plan_device
    from workbench.engine.loading import _first_line, _hub_files_are_local, _pretrained_errors

    report = progress or (lambda _: None)
    plan = plan_device(settings.device)
    if settings.dtype == "auto":
        choice = checkpoint_dtype(read_config(source, settings))
    else:
        choice = choose_dtype(settings.dtype, plan)
    started = time.perf_counter()
    common: dict[str, Any] = {"trust_remote_code": settings.trust_remote_code}
    if source.kind == "hub":
        common["local_files_only"] = _hub_files_are_local(source, report)
    try:
        with warnings.catch_warnings(), _pretrained_errors(source):
            warnings.simplefilter("ignore")
            report(LoadProgress("Loading tokenizer"))
            tokenizer = AutoTokenizer.from_pretrained(source.location, **common)
            report(LoadProgress(f"Loading {what} weights"))
            kwargs: dict[str, Any] = dict(common, dtype=choice.dtype, output_loading_info=True)
            if plan.device_map:
                kwargs["device_map"] = plan.device_map
            model, info = getattr(transformers, auto_class).from_pretrained(source.location, **kwargs)
            if plan.device_map is None:
                model = model.to(device=plan.device, dtype=choice.dtype)
    except WorkbenchError:
        raise
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise ModelLoadError(
            f"out of memory loading {source.display_name} on {plan.label}: try another dtype or device"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any library failure becomes one clear line
        raise ModelLoadError(f"could not load {source.display_name} as a {what}: {_first_line(exc)}") from exc
    model.eval()
    loaded = loading.LoadedModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        settings=settings,
        plan=plan,
        dtype=choice.dtype,
        load_seconds=time.perf_counter() - started,
        dtype_reason=choice.reason,
    )
    report(LoadProgress("Recording the model's provenance"))
    loaded.provenance()
    report(LoadProgress("Ready", 1, 1))
    return loaded, sorted(info.get("missing_keys") or [])
