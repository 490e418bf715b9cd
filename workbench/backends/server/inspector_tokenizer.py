"""The tokenizer the inspector (F3) shows for a server's model, checked against the server.

The inspector browses a whole vocabulary, which no server API sends. So it uses a local copy
of the served model's tokenizer: the GGUF file itself when the server's model id is a path
on this machine (llama-server names its model by its file), else the hub id's tokenizer if
it is in the Hugging Face cache (never downloaded). Either is checked against the server's
own /tokenize on a sample text; the verdict is shown with it. With no local copy it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.backends.server.backend import ServerBackend
from workbench.backends.server.errors import ServerError

SAMPLE = "The capital of France is Paris. Ça coûte 3,50 € 🙂\n\tdef f(x): return x**2"


@dataclass(frozen=True, slots=True)
class InspectorTokenizer:
    tokenizer: Any | None  # a transformers tokenizer, or None: neither
    source: str  # where it came from, or why there is none
    verdict: str  # what the check against the server's /tokenize found


def inspector_tokenizer(backend: ServerBackend) -> InspectorTokenizer:
    """Find and check a local tokenizer for ``backend``'s model (engine thread: it imports transformers)."""
    model = backend.model
    tokenizer, source = None, ""
    if model.endswith(".gguf") and Path(model).is_file():
        from workbench.engine.loading import load_tokenizer
        from workbench.engine.settings import LoadSettings

        try:
            tokenizer, source = (
                load_tokenizer(LoadSettings(model=model)),
                f"the served file {Path(model).name}",
            )
        except Exception:  # noqa: BLE001 - fall through to the hub cache
            tokenizer = None
    if tokenizer is None:
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
            source = f"the cached hub tokenizer of {model}"
        except Exception:  # noqa: BLE001 - not a hub id, or not cached
            tokenizer = None
    if tokenizer is None:
        return InspectorTokenizer(
            None,
            f"no local tokenizer for {model} (not a file here, not in the Hugging Face cache)",
            "the server's /tokenize still works: workbench tokenize --server URL TEXT"
            if backend.capabilities["tokenize"].supported
            else "and the server has no /tokenize either",
        )
    return InspectorTokenizer(tokenizer, source, _check(backend, tokenizer))


def _check(backend: ServerBackend, tokenizer: Any) -> str:
    if not backend.capabilities["tokenize"].supported:
        return "not checked: the server has no /tokenize"
    try:
        served = [piece.token_id for piece in backend.tokenize(SAMPLE)]
    except ServerError as exc:
        return f"not checked: {exc}"
    local = list(tokenizer.encode(SAMPLE, add_special_tokens=False))
    if served == local:
        return f"matches the server's /tokenize ({len(local)} tokens of a sample)"
    at = next(
        (i for i, (a, b) in enumerate(zip(served, local, strict=False)) if a != b),
        min(len(served), len(local)),
    )
    return f"DIFFERS from the server's /tokenize at token {at} of a sample: ids on screen may not be the server's"
