"""Load a model for ``classify``: a sequence classifier when its config says so, else a causal LM.

``--model`` means what it means everywhere (engine/sources.py). A folder or hub id whose
``config.json`` names a ``...ForSequenceClassification`` architecture is loaded with
``AutoModelForSequenceClassification`` onto the same device and dtype ``load_model`` would
choose; anything else (the bundled default, GGUF files, causal LMs) goes through ``load_model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from workbench.engine.errors import ModelLoadError
from workbench.engine.head_loading import load_head_model, read_architectures
from workbench.engine.progress import ProgressCallback, quiet_libraries
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
    architectures = read_architectures(source, settings)
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
    loaded, _missing = load_head_model(
        source, settings, "AutoModelForSequenceClassification", "classifier", progress
    )
    return loaded
