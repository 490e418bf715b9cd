"""Load a masked language model for ``fill`` (``AutoModelForMaskedLM``), or say why not.

``--model`` means what it means everywhere (engine/sources.py): a local folder, or a hub id for
users with the network or a filled cache. The config's architectures are read first, so that a
causal LM or a classifier is refused with a pointer to the command that suits it; a checkpoint
whose masked-LM head would be randomly initialised (a bare encoder) is refused as well, never
answered with noise.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import ModelLoadError, WorkbenchError
from workbench.engine.progress import LoadProgress, ProgressCallback, quiet_libraries
from workbench.engine.settings import LoadSettings
from workbench.engine.sources import ModelSource, resolve_source

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

EXAMPLE_MODEL = "distilbert-base-uncased"
NEEDS = f"fill needs a masked language model, e.g. {EXAMPLE_MODEL} or a local folder holding one"
_GENERATIVE = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def check_masked_lm(source: ModelSource, settings: LoadSettings) -> None:
    """Raise :class:`ModelLoadError` when the config says this is not a masked language model."""
    if source.kind in {"bundled", "gguf"}:
        raise ModelLoadError(
            f"{source.display_name} is a causal language model: it continues text rather than "
            f"filling in a blank (use chat, generate or probe with it); {NEEDS}"
        )
    architectures = _architectures(source, settings)
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return
    name = source.display_name
    if any(a.endswith(_GENERATIVE) for a in architectures):
        raise ModelLoadError(
            f"{name} is a causal language model ({architectures[0]}): it continues text rather than "
            f"filling in a blank; use chat, generate or probe with it. {NEEDS}"
        )
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelLoadError(
            f"{name} is a sequence classifier ({architectures[0]}); use classify with it. {NEEDS}"
        )
    if architectures:
        raise ModelLoadError(f"{name} is a {architectures[0]} model, without a masked-LM head; {NEEDS}")
    # No architectures in the config: loading decides (a missing head is refused there).


def load_masked_lm(settings: LoadSettings, progress: ProgressCallback | None = None) -> LoadedModel:
    """``AutoModelForMaskedLM.from_pretrained`` on the device and dtype ``load_model`` would choose."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from workbench.engine import loading
    from workbench.engine.devices import choose_dtype, plan_device
    from workbench.engine.loading import _first_line, _hub_files_are_local, _pretrained_errors

    quiet_libraries()
    report = progress or (lambda _: None)
    source = resolve_source(settings.model)
    check_masked_lm(source, settings)
    plan = plan_device(settings.device)
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
            report(LoadProgress("Loading masked-LM weights"))
            kwargs: dict[str, Any] = dict(common, dtype=choice.dtype, output_loading_info=True)
            if plan.device_map:
                kwargs["device_map"] = plan.device_map
            model, info = AutoModelForMaskedLM.from_pretrained(source.location, **kwargs)
            if plan.device_map is None:
                model = model.to(device=plan.device, dtype=choice.dtype)
    except WorkbenchError:
        raise
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise ModelLoadError(
            f"out of memory loading {source.display_name} on {plan.label}: try another dtype or device"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any library failure becomes one clear line
        raise ModelLoadError(
            f"could not load {source.display_name} as a masked language model: {_first_line(exc)}"
        ) from exc
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ModelLoadError(
            f"{source.display_name} has no trained masked-LM head ({len(missing)} weights missing, "
            f"e.g. {missing[0]}); {NEEDS}"
        )
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
    return loaded


def _architectures(source: ModelSource, settings: LoadSettings) -> list[str]:
    """The architectures named in the model's ``config.json`` (empty when none are)."""
    from transformers import AutoConfig

    from workbench.engine.loading import _first_line, _hub_files_are_local, _pretrained_errors

    options: dict[str, Any] = {"trust_remote_code": settings.trust_remote_code}
    if source.kind == "hub":
        options["local_files_only"] = _hub_files_are_local(source, lambda _: None)
    try:
        with warnings.catch_warnings(), _pretrained_errors(source):
            warnings.simplefilter("ignore")
            config = AutoConfig.from_pretrained(source.location, **options)
    except WorkbenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable config is one clear line
        raise ModelLoadError(
            f"could not read the config of {source.display_name}: {_first_line(exc)}"
        ) from exc
    return [str(a) for a in getattr(config, "architectures", None) or []]
