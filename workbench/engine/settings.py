"""Validated settings records. Pure Python: importing this never imports torch.

Arguments are checked where they enter, in the manner of transformers'
``generation/logits_process.py``: a bad value raises a ``SettingsError`` that says what
values are allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from workbench.engine.errors import SettingsError

MAX_TOP_K_SHOWN = 50
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DTYPES = ("auto", "float32", "bfloat16", "float16")
QUANTIZE = ("none", "8bit", "4bit")  # bitsandbytes' 8-bit (LLM.int8) and 4-bit (NF4) weights
# torch.Generator.manual_seed takes a 64-bit value: 2**64 raises "Overflow when unpacking long
# long" (measured with torch 2.13). Negative seeds are accepted by torch but wrap around, so
# -1 and 2**64 - 1 would be the same stream: we refuse them to keep one number per stream.
MAX_SEED = 2**64 - 1
MAX_STOP_STRINGS = 16  # as many as anyone types; OpenAI's API takes 4, llama.cpp any number
# How stop strings are typed on one line (the Settings pane) or in one flag (--stop): a bar
# separates them (in the pane), and a backslash escapes what cannot be typed there.
STOP_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "s": " ", "|": "|", "\\": "\\"}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise SettingsError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise SettingsError(f"{name} must be a finite number, not {value!r}")
    return number


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise SettingsError(f"{name} must be a whole number, not {value!r}")


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {
        "true",
        "yes",
        "on",
        "1",
        "false",
        "no",
        "off",
        "0",
    }:
        return value.strip().lower() in {"true", "yes", "on", "1"}
    raise SettingsError(f"{name} must be true or false, not {value!r}")


@dataclass(frozen=True, slots=True)
class SamplingSettings:
    """How the next token is chosen.

    The defaults are llama.cpp's chat defaults (temperature 0.8, top-k 40, top-p 0.95,
    min-p 0.05): sampling on, with the tail cut, so the ``q`` column shows what the warpers
    do. ``temperature == 0`` means greedy decoding (as in llama.cpp and most chat UIs).
    """

    do_sample: bool = True
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repetition_penalty: float = 1.0
    max_new_tokens: int = 512
    seed: int | None = None
    # The reply ends when its text contains one of these; the text is cut before it.
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: normalise in place once
        set_(self, "do_sample", _flag("do_sample", self.do_sample))
        temperature = _number("temperature", self.temperature)
        if temperature < 0:
            raise SettingsError(
                f"temperature must be 0 (greedy) or a positive number such as 0.7, not {self.temperature!r}"
            )
        set_(self, "temperature", temperature)
        top_k = _whole("top_k", self.top_k)
        if top_k < 0:
            raise SettingsError(
                f"top_k must be 0 (off) or a positive whole number such as 40, not {self.top_k!r}"
            )
        set_(self, "top_k", top_k)
        top_p = _number("top_p", self.top_p)
        if not 0 < top_p <= 1:
            raise SettingsError(f"top_p must be greater than 0 and at most 1 (1 = off), not {self.top_p!r}")
        set_(self, "top_p", top_p)
        min_p = _number("min_p", self.min_p)
        if not 0 <= min_p <= 1:
            raise SettingsError(f"min_p must be between 0 (off) and 1, not {self.min_p!r}")
        set_(self, "min_p", min_p)
        penalty = _number("repetition_penalty", self.repetition_penalty)
        if penalty <= 0:
            raise SettingsError(
                f"repetition_penalty must be a positive number (1 = off, 1.1 discourages repeats), not {self.repetition_penalty!r}"
            )
        set_(self, "repetition_penalty", penalty)
        max_new = _whole("max_new_tokens", self.max_new_tokens)
        if max_new < 1:
            raise SettingsError(f"max_new_tokens must be at least 1, not {self.max_new_tokens!r}")
        set_(self, "max_new_tokens", max_new)
        if self.seed is not None:
            seed = _whole("seed", self.seed)
            if not 0 <= seed <= MAX_SEED:
                raise SettingsError(
                    f"seed must be a non-negative whole number from 0 to {MAX_SEED} (2**64 - 1), "
                    f"not {self.seed!r}; leave it empty for a random seed each time"
                )
            set_(self, "seed", seed)
        set_(self, "stop", _stop_strings(self.stop))

    @property
    def greedy(self) -> bool:
        """True when the argmax is taken: sampling off, or temperature 0."""
        return not self.do_sample or self.temperature == 0

    def updated(self, **changes: Any) -> SamplingSettings:
        """A copy with some fields changed, validated like a new one."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise SettingsError(f"unknown sampling setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stop": list(self.stop)}  # a list, as JSON and TOML read it back

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingSettings:
        """Build from a mapping, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _stop_strings(value: Any) -> tuple[str, ...]:
    """A tuple of non-empty stop strings; one string alone counts as a list of one."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) for s in value):
        raise SettingsError(f'stop must be a list of strings, such as ["\\n\\n", "User:"], not {value!r}')
    if any(not s for s in value):
        raise SettingsError("stop: a stop string must not be empty")
    if len(value) > MAX_STOP_STRINGS:
        raise SettingsError(f"stop: at most {MAX_STOP_STRINGS} strings, not {len(value)}")
    return tuple(dict.fromkeys(value))  # duplicates dropped, order kept


def unescape_stop(text: str) -> str:
    """One stop string as typed: ``\\n`` is a newline, ``\\t`` a tab, ``\\s`` a space, ``\\|`` a bar,
    ``\\\\`` a backslash; other characters stand for themselves."""
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, None)
        if nxt is None or nxt not in STOP_ESCAPES:
            raise SettingsError(
                f"stop: {'a lone backslash at the end' if nxt is None else chr(92) + nxt} is not an "
                "escape; use \\n (newline), \\t (tab), \\s (a space), \\| (a bar) or \\\\ (a backslash)"
            )
        out.append(STOP_ESCAPES[nxt])
    return "".join(out)


def parse_stop_field(text: str) -> tuple[str, ...]:
    """Stop strings typed on one line: separated by ``|``, spaces around each trimmed, with the
    escapes of :func:`unescape_stop` (``\\s`` keeps a space at either end).

    ``"\\n\\n | User: | \\sBob"`` is three strings: two newlines, ``User:`` and `` Bob``.
    Empty pieces are skipped.
    """
    pieces = [""]
    escaped = False
    for ch in text:
        if escaped or ch == "\\":
            escaped = not escaped and ch == "\\"
            pieces[-1] += ch
        elif ch == "|":
            pieces.append("")
        else:
            pieces[-1] += ch
    return _stop_strings([unescape_stop(p.strip()) for p in pieces if p.strip()])


def format_stop_field(stop: tuple[str, ...] | list[str]) -> str:
    """The inverse of :func:`parse_stop_field`: stop strings as one typed line."""
    escape = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "|": "\\|", "\\": "\\\\"}
    shown = []
    for s in stop:
        body = "".join(escape.get(ch, ch) for ch in s)
        core = body.strip(" ")
        lead = len(body) - len(body.lstrip(" "))
        trail = len(body) - len(body.rstrip(" ")) if core else 0
        shown.append("\\s" * lead + core + "\\s" * trail)
    return " | ".join(shown)


def validate_top_k_shown(value: Any) -> int:
    """How many candidates a chart or table shows: 1..50."""
    k = _whole("top-k shown", value)
    if not 1 <= k <= MAX_TOP_K_SHOWN:
        raise SettingsError(
            f"the number of candidates shown must be between 1 and {MAX_TOP_K_SHOWN}, not {value!r}"
        )
    return k


def check_top_k(value: object) -> int:
    """How many candidates a command lists (fill-mask, lens, diff): a whole number from 1 to 50."""
    try:
        k = int(str(value).strip())
    except ValueError:
        raise SettingsError(
            f"top-k must be a whole number from 1 to {MAX_TOP_K_SHOWN}, not {value!r}"
        ) from None
    if not 1 <= k <= MAX_TOP_K_SHOWN:
        raise SettingsError(f"top-k must be from 1 to {MAX_TOP_K_SHOWN}, not {k}")
    return k


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """Where and how a model is loaded.

    ``max_memory`` (``"0=20GiB,1=20GiB,cpu=64GiB"``, see :func:`parse_max_memory`) caps what
    accelerate's ``device_map="auto"`` puts on each device, so it goes with ``device="auto"``;
    ``quantize`` loads 8- or 4-bit weights through bitsandbytes (CUDA only, checked at load);
    ``compile`` decodes with a static KV cache and a ``torch.compile``d decoding step.
    """

    model: str = "default"
    device: str = "auto"
    dtype: str = "auto"
    trust_remote_code: bool = False
    max_memory: str = ""
    quantize: str = "none"
    compile: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        model = str(self.model).strip()
        if not model:
            raise SettingsError("model must name a model: 'default', a hub id, a folder or a .gguf file")
        set_(self, "model", model)
        device = str(self.device).strip().lower()
        if not DEVICE_PATTERN.match(device):
            raise SettingsError(f"device must be auto, cpu, cuda, cuda:N or mps, not {self.device!r}")
        set_(self, "device", device)
        dtype = str(self.dtype).strip().lower()
        if dtype not in DTYPES:
            raise SettingsError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        set_(self, "dtype", dtype)
        set_(self, "trust_remote_code", _flag("trust_remote_code", self.trust_remote_code))
        max_memory = "" if self.max_memory is None else str(self.max_memory).strip()
        if max_memory:
            parse_max_memory(max_memory)  # raises, saying how to write it
            if device != "auto":
                raise SettingsError(
                    f"max_memory caps what device_map='auto' puts on each device, so it needs device auto, "
                    f"not {device!r}; use --device auto, or leave --max-memory out"
                )
        set_(self, "max_memory", max_memory)
        quantize = "none" if self.quantize in (None, "", False) else str(self.quantize).strip().lower()
        quantize = {"8": "8bit", "4": "4bit", "int8": "8bit", "nf4": "4bit", "off": "none"}.get(
            quantize, quantize
        )
        if quantize not in QUANTIZE:
            raise SettingsError(
                f"quantize must be one of {', '.join(QUANTIZE)} (bitsandbytes 8-bit or 4-bit weights), "
                f"not {self.quantize!r}"
            )
        set_(self, "quantize", quantize)
        set_(self, "compile", _flag("compile", self.compile))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# accelerate's units (``convert_file_size_to_int``): decimal KB/MB/GB/TB and binary KiB/MiB/GiB/TiB.
_SIZE_UNITS = {
    "": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]*)$")
MAX_MEMORY_EXAMPLE = "0=20GiB,1=20GiB,cpu=64GiB"


def parse_max_memory(text: str) -> dict[int | str, int]:
    """``"0=20GiB,1=20GiB,cpu=64GiB"`` as accelerate's ``max_memory``: {0: bytes, 1: bytes, "cpu": bytes}.

    Keys are GPU indices, ``cpu`` or ``mps``; sizes a number with a unit (B, KB, MB, GB, TB,
    KiB, MiB, GiB, TiB) or a plain number of bytes. Whether GPU N exists is checked when the
    model is placed (:func:`workbench.engine.devices.plan_device`), where the hardware is known.
    """
    how = f"write DEVICE=SIZE pairs separated by commas, e.g. {MAX_MEMORY_EXAMPLE}"
    result: dict[int | str, int] = {}
    for piece in str(text).split(","):
        piece = piece.strip()
        if not piece:
            continue
        key_text, sep, size_text = piece.partition("=")
        key_text, size_text = key_text.strip().lower(), size_text.strip()
        if not sep or not key_text or not size_text:
            raise SettingsError(f"max_memory: {piece!r} is not DEVICE=SIZE; {how}")
        key: int | str
        if key_text.isdigit():
            key = int(key_text)
        elif key_text.startswith("cuda:") and key_text[5:].isdigit():
            key = int(key_text[5:])
        elif key_text in ("cpu", "mps"):
            key = key_text
        else:
            raise SettingsError(
                f"max_memory: device {key_text!r} is not a GPU index (0, 1, ...), cpu or mps; {how}"
            )
        if key in result:
            raise SettingsError(f"max_memory: device {key_text!r} is given twice; {how}")
        match = _SIZE.match(size_text.lower())
        if match is None or match.group(2) not in _SIZE_UNITS:
            raise SettingsError(
                f"max_memory: {size_text!r} for {key_text} is not a size; use a number and a unit "
                f"(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 20GiB; {how}"
            )
        size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
        if size <= 0:
            raise SettingsError(f"max_memory: the size for {key_text} must be more than 0; {how}")
        result[key] = size
    if not result:
        raise SettingsError(f"max_memory is empty; {how}")
    return result
