"""Load a masked language model for ``fill`` (``AutoModelForMaskedLM``), or say why not.

``--model`` means what it means everywhere (engine/sources.py): a local folder, or a hub id for
users with the network or a filled cache. The config's architectures are read first, so that a
causal LM or a classifier is refused with a pointer to the command that suits it; a checkpoint
whose masked-LM head would be randomly initialised (a bare encoder) is refused as well, never
answered with noise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.errors import ModelLoadError
from workbench.engine.head_loading import load_head_model, read_architectures
from workbench.engine.progress import ProgressCallback, quiet_libraries
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
    architectures = read_architectures(source, settings)
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
    quiet_libraries()
    source = resolve_source(settings.model)
    check_masked_lm(source, settings)
    loaded, missing = load_head_model(
        source, settings, "AutoModelForMaskedLM", "masked language model", progress
    )
    if missing:
        raise ModelLoadError(
            f"{source.display_name} has no trained masked-LM head ({len(missing)} weights missing, "
            f"e.g. {missing[0]}); {NEEDS}"
        )
    return loaded
