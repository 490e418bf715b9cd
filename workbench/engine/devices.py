"""Which device and dtype a model is loaded onto. ``auto`` picks what is fastest and safe,
and the same on every launch of one machine."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench import paths
from workbench.engine.errors import SettingsError


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """Either one device, or ``device_map="auto"`` to spread the layers over several devices.

    ``max_memory`` (bytes per device, accelerate's keys: GPU index, ``"cpu"``, ``"mps"``) caps
    what ``device_map="auto"`` puts where; ``placed`` is where the weights went, filled in
    after loading from the model's ``hf_device_map``.
    """

    device: str  # "cpu", "cuda:0", "mps", or "auto" when device_map spreads the model
    device_map: str | None = None
    max_memory: dict[int | str, int] | None = None
    gpus: int = 0  # GPUs the plan may use (device_map plans)
    placed: tuple[str, ...] = ()

    @property
    def uses_cuda(self) -> bool:
        if self.placed:
            return any(d.startswith("cuda") for d in self.placed)
        return self.device.startswith("cuda") or (self.device_map is not None and self.gpus > 0)

    @property
    def label(self) -> str:
        if self.device_map and self.placed:
            return f"{'+'.join(self.placed)} (device_map)"  # where the layers are, never "auto"
        if self.device_map:
            return f"{self.device_map} ({self.gpus} GPUs)"
        return self.device


def plan_device(
    requested: str,
    cuda_count: int | None = None,
    mps_available: bool | None = None,
    max_memory: dict[int | str, int] | None = None,
) -> DevicePlan:
    """Resolve ``auto|cpu|cuda|cuda:N|mps`` against the hardware present.

    ``auto`` prefers CUDA (all GPUs through accelerate's ``device_map="auto"`` when there is
    more than one), then Apple's MPS, then the CPU. With ``max_memory`` (device auto only),
    ``device_map="auto"`` places the layers within those caps, on one device or several.
    """
    if cuda_count is None:
        cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if mps_available is None:
        mps_available = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if max_memory:
        return _capped_plan(requested, cuda_count, mps_available, max_memory)
    if requested == "auto":
        if cuda_count > 1:
            return DevicePlan("auto", device_map="auto", gpus=cuda_count)
        if cuda_count == 1:
            return DevicePlan("cuda:0")
        if mps_available:
            return DevicePlan("mps")
        return DevicePlan("cpu")
    if requested == "cpu":
        return DevicePlan("cpu")
    if requested == "mps":
        if not mps_available:
            raise SettingsError(
                "device mps is not available here (it needs Apple silicon and a torch built with MPS)"
            )
        return DevicePlan("mps")
    if requested.startswith("cuda"):
        index = int(requested.partition(":")[2] or 0)
        if cuda_count == 0:
            raise SettingsError(
                f"device {requested} is not available: torch sees no CUDA GPU here; use cpu or auto"
            )
        if index >= cuda_count:
            raise SettingsError(
                f"device {requested} does not exist: this machine has {cuda_count} GPU(s), cuda:0..cuda:{cuda_count - 1}"
            )
        return DevicePlan(f"cuda:{index}")
    raise SettingsError(f"device must be auto, cpu, cuda, cuda:N or mps, not {requested!r}")


def _capped_plan(
    requested: str, cuda_count: int, mps_available: bool, max_memory: dict[int | str, int]
) -> DevicePlan:
    """``device_map="auto"`` within ``max_memory``: every device it names must exist here."""
    if requested != "auto":
        raise SettingsError(
            f"max_memory needs device auto (device_map='auto' places the layers), not {requested!r}; "
            "use --device auto, or leave --max-memory out"
        )
    gpus = sorted(k for k in max_memory if isinstance(k, int))
    missing = [k for k in gpus if k >= cuda_count]
    if missing:
        have = f"GPUs 0..{cuda_count - 1}" if cuda_count else "no CUDA GPU"
        raise SettingsError(
            f"max_memory names GPU {', '.join(map(str, missing))}, but this machine has {have}; "
            f"give sizes only for devices that exist (e.g. cpu=16GiB here)"
        )
    if "mps" in max_memory and not mps_available:
        raise SettingsError("max_memory names mps, but MPS is not available here; leave it out")
    return DevicePlan("auto", device_map="auto", max_memory=dict(max_memory), gpus=len(gpus))


def placed_devices(model: object) -> tuple[str, ...]:
    """Where ``device_map`` put a model's modules: ("cuda:0", "cuda:1"), ("cpu",), ... in order."""
    device_map = getattr(model, "hf_device_map", None)
    if not device_map:  # transformers records a map only when it had to split the model
        parameters = getattr(model, "parameters", None)
        first = next(iter(parameters()), None) if parameters is not None else None
        return (str(first.device),) if first is not None else ()
    found: dict[str, None] = {}
    for where in device_map.values():
        name = f"cuda:{where}" if isinstance(where, int) else str(where)
        found[name] = None
    return tuple(found)


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# /proc/cpuinfo flags that mean native bfloat16 arithmetic (x86 AVX512-BF16 / AMX, Arm BF16).
NATIVE_BF16_FLAGS = {"avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX-BF16", "bf16": "Arm BF16"}
DECISION_FILE = "dtype-decision.json"


@dataclass(frozen=True, slots=True)
class DtypeChoice:
    """The dtype a model loads in, and why, in one short line (shown in the status line)."""

    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def plan_dtype(requested: str, plan: DevicePlan) -> torch.dtype:
    """Resolve ``auto|float32|bfloat16|float16`` (see :func:`choose_dtype`)."""
    return choose_dtype(requested, plan).dtype


def choose_dtype(requested: str, plan: DevicePlan) -> DtypeChoice:
    """Resolve ``auto|float32|bfloat16|float16``, with the reason.

    ``auto`` gives the same answer at every launch on one machine (never a timing taken at
    load, which a busy machine would flip): bfloat16 on GPUs that support it (float16
    otherwise), float16 on MPS; on the CPU bfloat16 where the CPU has native bfloat16
    instructions (AVX512-BF16 or AMX on x86, BF16 on Arm, read from ``/proc/cpuinfo``),
    float32 where it has not. Where the CPU's flags cannot be read (macOS, Windows), one
    measurement decides, kept in the cache folder per machine and torch version.
    """
    if requested != "auto":
        try:
            return DtypeChoice(_DTYPES[requested], f"{requested}: as requested (dtype setting)")
        except KeyError:
            raise SettingsError(
                f"dtype must be one of auto, float32, bfloat16, float16, not {requested!r}"
            ) from None
    if plan.uses_cuda:
        if torch.cuda.is_bf16_supported():
            return DtypeChoice(torch.bfloat16, "bfloat16: this GPU supports it")
        return DtypeChoice(torch.float16, "float16: this GPU has no bfloat16")
    if plan.device == "mps":
        return DtypeChoice(torch.float16, "float16: Apple MPS")
    return cpu_dtype()


def cpu_dtype(flags: frozenset[str] | None = None) -> DtypeChoice:
    """``auto`` on the CPU: from the CPU's flags (``None`` reads them), else measured once."""
    if flags is None:
        flags = cpu_flags()
    if flags is not None:
        native = [label for flag, label in NATIVE_BF16_FLAGS.items() if flag in flags]
        if native:
            return DtypeChoice(torch.bfloat16, f"bfloat16: {' and '.join(native)} on this CPU")
        return DtypeChoice(
            torch.float32, "float32: this CPU has no native bfloat16 (no AVX512-BF16, AMX or Arm BF16)"
        )
    return measured_cpu_dtype()


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``); ``None`` where unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, sep, value = line.partition(":")
                if sep and name.strip().lower() in {"flags", "features"}:
                    return frozenset(value.split())
    except OSError:
        return None
    return None


def machine_key() -> str:
    """One machine and torch build: a measured decision is kept per key."""
    return "|".join(
        [platform.node(), platform.system(), platform.machine(), platform.processor(), torch.__version__]
    )


def measured_cpu_dtype(decision_file: Path | None = None) -> DtypeChoice:
    """Measure bfloat16 against float32 once per machine and torch version; later launches
    read the decision kept in ``<cache>/dtype-decision.json``."""
    path = decision_file or paths.cache_dir() / DECISION_FILE
    key = machine_key()
    try:
        decisions = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(decisions, dict):
            decisions = {}
    except (OSError, ValueError):
        decisions = {}
    kept = decisions.get(key)
    if isinstance(kept, dict) and kept.get("dtype") in ("bfloat16", "float32"):
        return DtypeChoice(_DTYPES[kept["dtype"]], str(kept.get("reason") or kept["dtype"]))
    ratio = bfloat16_speedup()
    dtype = "bfloat16" if ratio > 1.25 else "float32"
    reason = f"{dtype}: measured once {datetime.date.today().isoformat()}: bf16 {ratio:.1f}x float32"
    decisions[key] = {"dtype": dtype, "reason": reason, "speedup": round(ratio, 3)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(decisions, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only cache: the decision holds for this process only
        pass
    return DtypeChoice(_DTYPES[dtype], reason)


def bfloat16_speedup(rounds: int = 9) -> float:
    """How much faster a decode-shaped matrix-vector product runs in bfloat16 than in float32.

    Decoding one token is memory-bound matrix-vector work, so halving the bytes per weight
    pays off only where the CPU has native bfloat16 kernels. The two dtypes alternate, and
    the best round of each counts, so a burst of load hits both alike.
    """
    x32 = torch.randn(1, 2048)
    w32 = torch.randn(4096, 2048)
    x16, w16 = x32.to(torch.bfloat16), w32.to(torch.bfloat16)
    best = {torch.float32: float("inf"), torch.bfloat16: float("inf")}
    for x, w in ((x32, w32), (x16, w16)):
        torch.nn.functional.linear(x, w)  # warm-up
    for _ in range(rounds):
        for x, w in ((x32, w32), (x16, w16)):
            start = time.perf_counter()
            for _ in range(4):
                torch.nn.functional.linear(x, w)
            best[x.dtype] = min(best[x.dtype], time.perf_counter() - start)
    return best[torch.float32] / max(best[torch.bfloat16], 1e-9)


def memory_in_use(plan: DevicePlan) -> str:
    """A short memory figure for the status line: accelerator memory, else the process's RSS."""
    if plan.uses_cuda:
        used = sum(torch.cuda.memory_allocated(i) for i in range(torch.cuda.device_count()))
        return f"GPU {used / 2**30:.2f}G"
    if plan.device == "mps":
        return f"MPS {torch.mps.current_allocated_memory() / 2**30:.2f}G"
    return f"RAM {resident_bytes() / 2**30:.2f}G"


def resident_bytes() -> int:
    """The process's resident set size (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def available_bytes(plan: DevicePlan) -> int | None:
    """Memory free for another model on ``plan``'s device: the GPU's free memory (the sum over
    GPUs under ``device_map``), else the system's available RAM; ``None`` where unknown (MPS,
    or no /proc/meminfo)."""
    if plan.device_map:
        return sum(torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count()))
    if plan.device.startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(plan.device))[0])
    if plan.device == "mps":
        return None
    return ram_available_bytes()


def ram_available_bytes(path: str = "/proc/meminfo") -> int | None:
    """The kernel's MemAvailable (free RAM plus what caches would give back), in bytes."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
