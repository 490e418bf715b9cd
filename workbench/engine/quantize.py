"""8-bit and 4-bit weights through bitsandbytes, and the label a quantized model carries on screen.

bitsandbytes quantizes on CUDA: on a CPU or Apple's MPS, or without the package, ``--quantize``
is refused with one line that says why and what to do instead, before any weights are read.
bitsandbytes is an optional extra (``pip install 'workbench[gpu]'``), never a hard dependency.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from workbench.engine.devices import DevicePlan
from workbench.engine.errors import SettingsError

INSTALL_HINT = "pip install 'workbench[gpu]' (or pip install bitsandbytes)"


def bitsandbytes_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def check_quantize(quantize: str, plan: DevicePlan, installed: bool | None = None) -> None:
    """Refuse ``quantize`` (8bit|4bit) where bitsandbytes cannot run it; "none" always passes."""
    if quantize == "none":
        return
    if not plan.uses_cuda:
        where = "Apple's MPS" if plan.device == "mps" else "the CPU"
        raise SettingsError(
            f"--quantize {quantize} needs a CUDA GPU (bitsandbytes quantizes weights on CUDA), and this "
            f"model would run on {where}; leave --quantize out (a smaller --dtype such as bfloat16 also "
            "halves the memory), or run on a machine with an NVIDIA GPU"
        )
    if not (bitsandbytes_installed() if installed is None else installed):
        raise SettingsError(f"--quantize {quantize} needs the bitsandbytes package: {INSTALL_HINT}")


def bnb_config(quantize: str, compute_dtype: torch.dtype) -> Any:
    """transformers' ``BitsAndBytesConfig`` for 8-bit (LLM.int8) or 4-bit NF4 weights."""
    from transformers import BitsAndBytesConfig

    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantize == "4bit":
        # NF4 with the model's compute dtype: the usual QLoRA-style inference setting.
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype
        )
    raise SettingsError(f"quantize must be none, 8bit or 4bit, not {quantize!r}")


def quantization_label(config: Any) -> str:
    """A model config's ``quantization_config`` in two words: "4-bit bnb", "8-bit bnb"; "" for none.

    Read from the loaded model, so the label says what the weights are, not what was asked.
    """
    quant = getattr(config, "quantization_config", None)
    if quant is None:
        return ""
    data = quant if isinstance(quant, dict) else quant.to_dict()
    raw = data.get("quant_method", "")
    method = str(getattr(raw, "value", raw)).lower()  # an enum (QuantizationMethod) or its value
    if method == "gguf":
        return ""  # GGUF weights are de-quantized when loaded: the model runs in its dtype
    if method == "bitsandbytes":
        if data.get("load_in_4bit"):
            return "4-bit bnb"
        if data.get("load_in_8bit"):
            return "8-bit bnb"
    return method or "quantized"
