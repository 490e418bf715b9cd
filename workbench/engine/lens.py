"""The logit lens: what each layer would predict if it were the last.

For the prediction of token ``target`` (from ``ids[:target]``), one forward pass with
``output_hidden_states=True`` gives the residual stream after the embeddings (layer 0) and after
each decoder layer (1..L). Each goes through the model's own final norm and ``lm_head`` (and the
final logit transform some families add, such as Gemma 2's soft-capping), then softmax: the
top-k of every layer, and the probability each layer gives the token finally chosen.

transformers (5.x) hands back ``hidden_states[-1]`` already through the final norm (it is
``last_hidden_state``), while ``hidden_states[0..L-1]`` are raw residuals. Normalising the last
one again would be wrong; whether it is normed is not assumed but checked: the lens of the last
layer must reproduce the model's own logits (``head_check``), so its row equals ``p``.

The forward pass is cached per (model, ids): moving along the positions of one text costs no
new pass. Importing this module does not import torch; every function that computes runs on
the engine thread.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import PromptError, SettingsError
from workbench.engine.settings import check_top_k

if TYPE_CHECKING:
    import torch

    from workbench.engine.loading import LoadedModel

DEFAULT_TOP_K = 5
CACHE_SIZE = 1  # passes kept: one text at a time (every layer's hidden states: ~70 MB per 1,000 tokens of SmolLM2 in float32)
# The attribute names of the final norm on a base model, most common first. GPT-2 calls it
# ln_f, GPT-NeoX final_layer_norm, Phi-1/2 final_layernorm, Mamba norm_f, the rest norm.
NORM_NAMES = ("norm", "final_layer_norm", "ln_f", "final_layernorm", "norm_f", "final_norm")
# How far the last layer's lens may be from the model's own logits (float32 rounding of the
# same matmul done on one row instead of the whole sequence).
HEAD_CHECK_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class LensCandidate:
    token_id: int
    token: str  # the token's visible label (whitespace shown, controls inert)
    p: float


@dataclass(frozen=True, slots=True)
class LensLayer:
    layer: int  # 0 = the embeddings, L = the last layer (the model's output)
    candidates: tuple[LensCandidate, ...]  # most probable first
    chosen_p: float  # this layer's probability of the token finally chosen
    chosen_rank: int  # 1 = this layer's top token


@dataclass(frozen=True, slots=True)
class LensResult:
    ids: tuple[int, ...]
    target: int  # the index of the predicted token: predicted from ids[:target]
    chosen_id: int  # ids[target], or the last layer's top token when target == len(ids)
    chosen: str
    layers: tuple[LensLayer, ...]  # layer 0 (embeddings) to L (the model's output)
    norm_name: str  # where the final norm was found, e.g. "model.norm"
    head_check: float  # max |lens logits of the last layer - the model's logits| at target - 1


# --- validation (pure Python) ------------------------------------------------------------


def resolve_target(length: int, position: int | None) -> int:
    """The index of the predicted token in a text of ``length`` tokens.

    ``None`` (the default) is the token after the text; 1..length-1 a token of the text,
    predicted from the tokens before it; a negative number counts from the end (-1 = the text's
    last token). Token 0 has nothing before it to be predicted from.
    """
    if length < 1:
        raise PromptError("the text encodes to no tokens")
    if position is None:
        return length
    target = position + length if position < 0 else position
    if not 1 <= target <= length:
        raise SettingsError(
            f"position {position} is outside 1..{length} (the text has {length} tokens; "
            f"{length} is the token after it, -1 its last token; token 0 has nothing before it)"
        )
    return target


# --- the model's pieces ------------------------------------------------------------------


def final_norm(model: Any) -> tuple[Any, str]:
    """The module that normalises the last hidden state before ``lm_head``, and its path.

    Looked up on the decoder (the base model) by the names families use; failing those, the
    last direct child whose class is a norm. Raises a clear error when there is none.
    """
    bases: list[tuple[str, Any]] = []
    prefix = getattr(model, "base_model_prefix", "") or "model"
    base = getattr(model, "base_model", None)
    if base is not None and base is not model:
        bases.append((prefix, base))
    get_decoder = getattr(model, "get_decoder", None)
    if callable(get_decoder):
        try:
            decoder = get_decoder()
        except Exception:  # noqa: BLE001 - not every model has one
            decoder = None
        if decoder is not None and all(decoder is not b for _, b in bases):
            bases.append((f"{prefix}.decoder", decoder))
    for path, module in bases:
        for name in NORM_NAMES:
            found = getattr(module, name, None)
            if found is not None and callable(found):
                return found, f"{path}.{name}"
    for path, module in bases:
        norms = [(n, c) for n, c in module.named_children() if "norm" in type(c).__name__.lower()]
        if norms:
            name, found = norms[-1]
            return found, f"{path}.{name}"
    raise PromptError(
        f"cannot find the final norm of {type(model).__name__}: the logit lens needs it to read "
        "the hidden states of the middle layers"
    )


def head_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """``lm_head(hidden)`` with the family's final transform of the logits, in float32.

    Gemma 2/3 soft-cap (``cap * tanh(logits / cap)``), Granite divides by ``logits_scaling``,
    Cohere multiplies by ``logit_scale``: each is a config attribute, applied where present.
    """
    import torch

    logits = model.get_output_embeddings()(hidden)
    config = model.config.get_text_config()
    scale = getattr(config, "logit_scale", None)  # Cohere
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        logits = logits * scale
    scaling = getattr(config, "logits_scaling", None)  # Granite
    if isinstance(scaling, (int, float)) and not isinstance(scaling, bool) and scaling:
        logits = logits / scaling
    cap = getattr(config, "final_logit_softcapping", None)  # Gemma 2, Gemma 3
    if isinstance(cap, (int, float)) and cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.float()


# --- the forward pass, cached ------------------------------------------------------------


@dataclass(slots=True)
class _Pass:
    model: weakref.ref[Any]  # (an id can be reused once a model is gone)
    hidden: tuple[torch.Tensor, ...]  # [seq, hidden] per layer, 0..L, on the model's device
    last_normed: bool  # hidden[-1] is already through the final norm
    head_check: float


_cache: OrderedDict[tuple[int, tuple[int, ...]], _Pass] = OrderedDict()


def clear_cache() -> None:
    _cache.clear()


def _forward(loaded: LoadedModel, ids: tuple[int, ...]) -> _Pass:
    import torch

    key = (id(loaded.model), ids)
    found = _cache.get(key)
    if found is not None and found.model() is loaded.model:
        _cache.move_to_end(key)
        return found
    limit = loaded.context_length
    if limit is not None and len(ids) > limit:
        raise PromptError(f"the text is {len(ids)} tokens; the model's context holds {limit}")
    model = loaded.model
    norm, _ = final_norm(model)
    with torch.inference_mode():
        tensor = torch.tensor([list(ids)], dtype=torch.long, device=loaded.input_device)
        try:  # the logits of the last position only: the check below needs no others
            out = model(tensor, output_hidden_states=True, use_cache=False, logits_to_keep=1)
        except TypeError:
            out = model(tensor, output_hidden_states=True, use_cache=False)
        hidden = tuple(h[0] for h in out.hidden_states)
        expected = out.logits[0, -1].float()
        # Is the last hidden state already normed? Whichever reading reproduces the model's
        # logits is the right one (transformers 5 ties it to last_hidden_state, normed).
        as_is = (head_logits(model, hidden[-1][-1:])[0] - expected).abs().max().item()
        if as_is <= HEAD_CHECK_TOLERANCE:
            last_normed, check = True, as_is
        else:
            normed = (head_logits(model, norm(hidden[-1][-1:]))[0] - expected).abs().max().item()
            last_normed, check = (False, normed) if normed < as_is else (True, as_is)
    del out
    found = _Pass(weakref.ref(model), hidden, last_normed, float(check))
    _cache[key] = found
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return found


def layer_logits(loaded: LoadedModel, ids: tuple[int, ...] | list[int], row: int) -> torch.Tensor:
    """The lens logits of every layer at sequence row ``row``: shape [L + 1, vocab], float32."""
    import torch

    ids = tuple(int(i) for i in ids)
    found = _forward(loaded, ids)
    model = loaded.model
    norm, _ = final_norm(model)
    with torch.inference_mode():
        stack = torch.stack([h[row] for h in found.hidden])  # [L + 1, hidden]
        if found.last_normed:  # norm the middle layers only; the last already went through it
            normed = torch.cat([norm(stack[:-1]), stack[-1:]])
        else:
            normed = norm(stack)
        return head_logits(model, normed)


def logit_lens(
    loaded: LoadedModel,
    ids: list[int] | tuple[int, ...],
    target: int | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> LensResult:
    """The lens of the prediction of token ``target`` (default: the token after ``ids``)."""
    import torch

    ids = tuple(int(i) for i in ids)
    top_k = check_top_k(top_k)
    target = len(ids) if target is None else target
    if not 1 <= target <= len(ids):
        raise SettingsError(f"the predicted token's index must be from 1 to {len(ids)}, not {target}")
    # Everything up to the target is the context; rows after it do not change it (causal), so
    # the pass over the whole text serves every position of it.
    logits = layer_logits(loaded, ids, target - 1)
    found = _forward(loaded, ids)  # (cached by layer_logits)
    with torch.inference_mode():
        log_p = torch.log_softmax(logits, dim=-1)
        p = log_p.exp()
        chosen_id = ids[target] if target < len(ids) else int(p[-1].argmax().item())
        k = min(top_k, int(p.shape[-1]))
        values, indices = p.topk(k, dim=-1)
        chosen_p = p[:, chosen_id]
        ranks = (p > chosen_p[:, None]).sum(dim=-1) + 1
        packed = torch.cat(
            [values.double().flatten(), indices.double().flatten(), chosen_p.double(), ranks.double()]
        )
        flat = packed.tolist()  # one copy to the host
    layers_n = int(p.shape[0])
    values_l = flat[: layers_n * k]
    ids_l = flat[layers_n * k : 2 * layers_n * k]
    chosen_l = flat[2 * layers_n * k : 2 * layers_n * k + layers_n]
    ranks_l = flat[2 * layers_n * k + layers_n :]
    table = loaded.table
    layers = []
    for layer in range(layers_n):
        row = slice(layer * k, (layer + 1) * k)
        candidates = tuple(
            LensCandidate(int(i), _label(table, int(i)), float(v))
            for v, i in zip(values_l[row], ids_l[row], strict=True)
        )
        layers.append(LensLayer(layer, candidates, float(chosen_l[layer]), int(ranks_l[layer])))
    _, norm_name = final_norm(loaded.model)
    return LensResult(
        ids, target, chosen_id, _label(table, chosen_id), tuple(layers), norm_name, found.head_check
    )


def _label(table: Any, token_id: int) -> str:
    try:
        return str(table.label(token_id))
    except ValueError:
        return f"<id {token_id}>"
