"""Which device and dtype a model is loaded onto. ``auto`` picks what is fastest and safe."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from workbench.engine.errors import SettingsError


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """Either one device, or ``device_map="auto"`` to spread the layers over several GPUs."""

    device: str  # "cpu", "cuda:0", "mps", or "auto" when device_map spreads the model
    device_map: str | None = None

    @property
    def label(self) -> str:
        return f"{self.device_map} ({torch.cuda.device_count()} GPUs)" if self.device_map else self.device


def plan_device(
    requested: str, cuda_count: int | None = None, mps_available: bool | None = None
) -> DevicePlan:
    """Resolve ``auto|cpu|cuda|cuda:N|mps`` against the hardware present.

    ``auto`` prefers CUDA (all GPUs through accelerate's ``device_map="auto"`` when there is
    more than one), then Apple's MPS, then the CPU.
    """
    if cuda_count is None:
        cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if mps_available is None:
        mps_available = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        if cuda_count > 1:
            return DevicePlan("auto", device_map="auto")
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


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def plan_dtype(requested: str, plan: DevicePlan) -> torch.dtype:
    """Resolve ``auto|float32|bfloat16|float16``.

    ``auto``: bfloat16 on GPUs that support it (float16 otherwise), float16 on MPS, and on
    the CPU bfloat16 only where a quick measurement shows it decodes faster than float32
    (true on CPUs with AVX512-BF16/AMX; emulated bfloat16 is slower than float32).
    """
    if requested != "auto":
        try:
            return _DTYPES[requested]
        except KeyError:
            raise SettingsError(
                f"dtype must be one of auto, float32, bfloat16, float16, not {requested!r}"
            ) from None
    if plan.device_map or plan.device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if plan.device == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_bfloat16_is_faster() else torch.float32


@lru_cache(maxsize=1)
def cpu_bfloat16_is_faster() -> bool:
    """Time a decode-shaped matrix-vector product in both dtypes (about 0.1 s, once per process).

    Decoding one token is memory-bound matrix-vector work, so halving the bytes per weight
    pays off only where the CPU has native bfloat16 kernels.
    """
    x32 = torch.randn(1, 2048)
    w32 = torch.randn(4096, 2048)
    x16, w16 = x32.to(torch.bfloat16), w32.to(torch.bfloat16)

    def best(x: torch.Tensor, w: torch.Tensor) -> float:
        torch.nn.functional.linear(x, w)  # warm-up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(4):
                torch.nn.functional.linear(x, w)
            times.append(time.perf_counter() - start)
        return min(times)

    return best(x16, w16) < 0.8 * best(x32, w32)


def memory_in_use(plan: DevicePlan) -> str:
    """A short memory figure for the status line: accelerator memory, else the process's RSS."""
    if plan.device_map or plan.device.startswith("cuda"):
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
