"""What a loaded model really is: the resolved source, its revision or file hashes, device, dtype.

Sessions, exports and ``--json`` outputs record this, never ``auto`` or ``default``. A file's
SHA-256 is computed once and kept in ``<cache>/file-hashes.json``, keyed by the file's path,
size and modification time, so a 100 MB weights file is not read again at every launch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import paths

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel

HASH_FILE = "file-hashes.json"
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin", "*.pt", "*.pth")


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """The SHA-256 of ``path`` (hex), read from the cache when the file has not changed."""
    path = path.resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_path = cache_file or paths.cache_dir() / HASH_FILE
    known = _read_json(cache_path)
    digest = known.get(key)
    if isinstance(digest, str) and len(digest) == 64:
        return digest
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    digest = sha.hexdigest()
    known = _read_json(cache_path)  # another process may have added entries meanwhile
    known[key] = digest
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_name(f".{cache_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        os.replace(tmp, cache_path)
    except OSError:  # a read-only cache: hashed again next time, still correct
        pass
    return digest


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def weight_files(folder: Path) -> list[Path]:
    """The weights files of a model folder (safetensors shards, or PyTorch .bin files)."""
    found: list[Path] = []
    for pattern in WEIGHT_PATTERNS:
        found.extend(p for p in sorted(folder.glob(pattern)) if p.is_file() and p not in found)
    return found


def hub_revision(repo_id: str) -> str | None:
    """The commit of the hub model in the local HF cache (the snapshot folder's name)."""
    try:
        import huggingface_hub

        cached = huggingface_hub.try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - no revision is better than no record
        return None
    if isinstance(cached, str):
        return Path(cached).parent.name
    return None


def provenance_record(loaded: LoadedModel) -> dict[str, Any]:
    """The record of what ran: see :meth:`LoadedModel.provenance`."""
    import torch
    import transformers

    source = loaded.source
    record: dict[str, Any] = {
        "model": source.display_name,
        "source": source.kind,
        "location": source.location,
    }
    if source.gguf_file:
        record["file"] = source.gguf_file
    if source.kind == "hub":
        record["revision"] = hub_revision(source.location)
    else:
        files: list[Path] = []
        if source.gguf_path is not None:
            files = [source.gguf_path]
        elif Path(source.location).is_dir():
            files = weight_files(Path(source.location))
        hashes = {}
        for file in files:
            try:
                hashes[file.name] = file_sha256(file)
            except OSError:
                continue
        if hashes:
            record["sha256"] = hashes
    record.update(
        device=loaded.plan.label,
        dtype=loaded.dtype_name,
        dtype_reason=loaded.dtype_reason,
        torch=torch.__version__,
        transformers=transformers.__version__,
    )
    record.update(scale_up_record(loaded))
    return record


def scale_up_record(loaded: LoadedModel) -> dict[str, Any]:
    """Quantization and compiled decoding as they ran (never as asked): ``quantization``
    ("none", "4-bit bnb", "8-bit bnb"), ``compile`` ("off", "static cache + torch.compile
    (inductor, default)", "static cache (not compiled)"), with ``compile_seconds`` (the first
    compile) and ``compile_note``; ``max_memory`` as given for a device_map load."""
    static = loaded.static
    record: dict[str, Any] = {
        "quantization": loaded.quantization or "none",
        "compile": static.description if static is not None else "off",
    }
    if static is not None and static.first_compile_seconds is not None:
        record["compile_seconds"] = round(static.first_compile_seconds, 2)
    if loaded.compile_note:
        record["compile_note"] = loaded.compile_note
    if loaded.plan.max_memory:
        record["max_memory"] = loaded.settings.max_memory
    return record
