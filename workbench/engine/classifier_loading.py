"""Load a model for ``classify``: a sequence classifier when its config says so, else a causal LM.

``--model`` means what it means everywhere (engine/sources.py). A folder or hub id whose
``config.json`` names a ``...ForSequenceClassification`` architecture is loaded with
``AutoModelForSequenceClassification`` onto the same device and dtype ``load_model`` would
choose; anything else (the bundled default, GGUF files, causal LMs) goes through ``load_model``.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any, Literal

from workbench.engine.errors import ModelLoadError, WorkbenchError
from workbench.engine.progress import LoadProgress, ProgressCallback, quiet_libraries
from workbench.engine.settings import LoadSettings
from workbench.engine.sources import ModelSource, resolve_source

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

ModelKind = Literal["classifier", "causal"]
# Architectures that neither classify nor continue text: refused with a pointer, not loaded
# as a causal LM with a randomly initialised head.
_OTHER_HEADS = (
    "ForMaskedLM",
    "ForTokenClassification",
    "ForQuestionAnswering",
    "ForMultipleChoice",
    "ForNextSentencePrediction",
    "ForPreTraining",
)
_GENERATIVE = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def model_kind(source: ModelSource, settings: LoadSettings) -> ModelKind:
    """``classifier`` when the config's architectures name a sequence-classification head."""
    if source.kind in {"bundled", "gguf"}:
        return "causal"
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
    architectures = [str(a) for a in getattr(config, "architectures", None) or []]
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "classifier"
    other = [a for a in architectures if a.endswith(_OTHER_HEADS)]
    if other and not any(a.endswith(_GENERATIVE) for a in architectures):
        raise ModelLoadError(
            f"{source.display_name} is a {other[0]} model: it neither classifies sentences nor "
            "continues text; classify needs a sequence-classification model "
            "(e.g. distilbert-base-uncased-finetuned-sst-2-english) or a causal language model"
        )
    return "causal"


def load_for_classify(
    settings: LoadSettings | None = None, progress: ProgressCallback | None = None
) -> LoadedModel:
    """A :class:`~workbench.engine.loading.LoadedModel` holding a classifier or a causal LM."""
    from workbench.engine.loading import load_model

    settings = settings or LoadSettings()
    quiet_libraries()
    source = resolve_source(settings.model)
    if model_kind(source, settings) == "causal":
        return load_model(settings, progress)
    return load_classifier(source, settings, progress)


def load_classifier(
    source: ModelSource, settings: LoadSettings, progress: ProgressCallback | None = None
) -> LoadedModel:
    """``AutoModelForSequenceClassification.from_pretrained`` on load_model's device and dtype."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from workbench.engine import loading
    from workbench.engine.devices import choose_dtype, plan_device
    from workbench.engine.loading import _first_line, _hub_files_are_local, _pretrained_errors

    report = progress or (lambda _: None)
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
            report(LoadProgress("Loading classifier weights"))
            kwargs: dict[str, Any] = dict(common, dtype=choice.dtype)
            if plan.device_map:
                kwargs["device_map"] = plan.device_map
            model = AutoModelForSequenceClassification.from_pretrained(source.location, **kwargs)
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
            f"could not load {source.display_name} as a classifier: {_first_line(exc)}"
        ) from exc
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
