"""Prompts as token ids: chat messages through the tokenizer's chat template, or raw text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.engine.errors import PromptError

ROLES = ("system", "user", "assistant")
NO_TEMPLATE_NOTICE = (
    "this tokenizer has no chat template; the conversation is sent as a plain "
    "'User: / Assistant:' transcript, which a base model may not follow"
)

# How a chat template takes a system message (found by rendering probe messages, see
# ``system_support``):
NATIVE = "native"  # a turn of its own
MERGED = "merged"  # the template itself puts it at the start of the first user message (Gemma 3)
REFUSED = "refused"  # the template raises (Gemma 2: "System role not supported")
DROPPED = "dropped"  # the template renders without it
TRANSCRIPT = "transcript"  # no template: a "System:" line of the plain transcript

MERGED_NOTICE = (
    "this model's chat template has no system role: it puts the system prompt at the start "
    "of the first user message"
)
REFUSED_NOTICE = (
    "this model's chat template refuses a system message ({detail}): the system prompt was "
    "put at the start of the first user message instead"
)
DROPPED_NOTICE = (
    "this model's chat template ignores system messages: the system prompt was put at the "
    "start of the first user message instead"
)
LOST_NOTICE = "the chat template left the system prompt out of the prompt: the model does not see it"

_SYSTEM_PROBE = "WB-SYSTEM-PROBE"
_USER_PROBE = "WB-USER-PROBE"
_ASSISTANT_PROBE = "WB-ASSISTANT-PROBE"
_support_cache: dict[str, tuple[str, str | None]] = {}  # template text -> (mode, error)
_default_cache: dict[str, str | None] = {}  # "default:" + template text -> its default system prompt


@dataclass(frozen=True, slots=True)
class Prompt:
    ids: tuple[int, ...]
    text: str  # what the ids decode to: the exact templated prompt
    templated: bool  # False for raw completion text or the no-template fallback
    notice: str | None = None  # shown to the user: the prompt is not what they might expect
    # how the system prompt went in: NATIVE, MERGED, REFUSED or DROPPED (both merged by us),
    # TRANSCRIPT, or "lost"; None when there was none
    system: str | None = None


def chat_prompt(
    tokenizer: Any, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True
) -> Prompt:
    """``apply_chat_template(messages, add_generation_prompt=True)`` as ids, with the text.

    A system message is never dropped without a word: where the template has no system role
    (it raises, or ignores it) the system text goes at the start of the first user message,
    as Gemma 3's own template does, and ``notice`` says so.
    """
    # a blank system message is no system prompt (and Gemma 2's template would refuse it)
    checked = [m for m in _check_messages(messages) if m["role"] != "system" or m["content"].strip()]
    system_text = "\n\n".join(m["content"] for m in checked if m["role"] == "system" and m["content"].strip())
    if not getattr(tokenizer, "chat_template", None):
        text = _plain_transcript(checked, add_generation_prompt)
        ids = tokenizer.encode(text, add_special_tokens=True)
        mode = TRANSCRIPT if system_text else None
        return Prompt(tuple(ids), text, templated=False, notice=NO_TEMPLATE_NOTICE, system=mode)
    mode, notice = None, None
    if system_text:
        mode, error = system_support(tokenizer)
        notice = _system_notice(mode, error)
        if mode in (REFUSED, DROPPED):
            checked = merge_system(checked)
    try:
        text = tokenizer.apply_chat_template(
            checked, add_generation_prompt=add_generation_prompt, tokenize=False
        )
    except Exception as exc:  # noqa: BLE001 - jinja2's TemplateError and friends
        raise PromptError(f"the model's chat template refused this conversation: {_first_line(exc)}") from exc
    if system_text and not all(part.strip() in text for part in system_text.split("\n\n")):
        mode, notice = "lost", LOST_NOTICE  # visible, never silent
    # The template already holds any BOS it wants, so encode without adding specials again
    # (this is what apply_chat_template(tokenize=True) does).
    ids = tokenizer.encode(text, add_special_tokens=False)
    return Prompt(tuple(ids), text, templated=True, notice=notice, system=mode)


def system_support(tokenizer: Any) -> tuple[str, str | None]:
    """How this tokenizer's chat template takes a system message: (mode, the template's error).

    Found once per template by rendering probe messages: a template that raises refuses it;
    one whose output lacks the system text drops it; one that puts the system text directly
    before the user's (only whitespace between, no turn markers) merges it; else it is native.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return TRANSCRIPT, None
    key = template if isinstance(template, str) else repr(template)
    cached = _support_cache.get(key)
    if cached is not None:
        return cached
    user = {"role": "user", "content": _USER_PROBE}
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "system", "content": _SYSTEM_PROBE}, user], add_generation_prompt=True, tokenize=False
        )
    except Exception as exc:  # noqa: BLE001 - raise_exception() in the template
        result: tuple[str, str | None] = (REFUSED, _first_line(exc))
    else:
        start = text.find(_SYSTEM_PROBE)
        end = start + len(_SYSTEM_PROBE)
        user_at = text.find(_USER_PROBE, max(end, 0))
        if start < 0:
            result = (DROPPED, None)
        elif user_at >= 0 and not text[end:user_at].strip():
            result = (MERGED, None)
        else:
            result = (NATIVE, None)
    _support_cache[key] = result
    return result


def system_notice(tokenizer: Any, system_prompt: str) -> str | None:
    """What the chat view says about ``system_prompt`` with this tokenizer (None: all is as typed)."""
    if not getattr(tokenizer, "chat_template", None):
        return NO_TEMPLATE_NOTICE
    if not system_prompt.strip():
        return None
    return _system_notice(*system_support(tokenizer))


def template_default_system(tokenizer: Any) -> str | None:
    """The system prompt the chat template writes when the conversation has none (SmolLM2's
    "You are a helpful AI assistant named SmolLM...", Qwen's "You are Qwen..."), else None.

    Rendered with and without a probe system message: the default is what stands where the
    probe stands, with the text around it the same.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    key = "default:" + (template if isinstance(template, str) else repr(template))
    if key in _default_cache:
        return _default_cache[key]
    user = {"role": "user", "content": _USER_PROBE}
    default, bare = None, ""
    try:
        bare = tokenizer.apply_chat_template([user], add_generation_prompt=True, tokenize=False)
        probed = tokenizer.apply_chat_template(
            [{"role": "system", "content": _SYSTEM_PROBE}, user], add_generation_prompt=True, tokenize=False
        )
    except Exception:  # noqa: BLE001 - a template that refuses a system message has no default
        probed = ""
    at = probed.find(_SYSTEM_PROBE)
    if at >= 0:
        before, after = probed[:at], probed[at + len(_SYSTEM_PROBE) :]
        if len(bare) > len(before) + len(after) and bare.startswith(before) and bare.endswith(after):
            default = bare[len(before) : len(bare) - len(after)].strip() or None
    _default_cache[key] = default
    return default


def merge_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The system messages' text put at the start of the first user message (Gemma 3's way)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"].strip())
    rest = [dict(m) for m in messages if m["role"] != "system"]
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}" if system else message["content"]
            break
    return rest


def template_end_of_turn_ids(tokenizer: Any) -> frozenset[int]:
    """The special token the chat template closes an assistant turn with (``<|eot_id|>``,
    ``<end_of_turn>``, ``<|im_end|>``...): it ends a reply even where the generation config
    does not list it (a GGUF file, a folder without generation_config.json)."""
    if not getattr(tokenizer, "chat_template", None):
        return frozenset()
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": _USER_PROBE}, {"role": "assistant", "content": _ASSISTANT_PROBE}],
            add_generation_prompt=False,
            tokenize=False,
        )
    except Exception:  # noqa: BLE001 - a template that cannot render this has no answer here
        return frozenset()
    at = text.find(_ASSISTANT_PROBE)
    if at < 0:
        return frozenset()
    after = text[at + len(_ASSISTANT_PROBE) :].lstrip()
    specials = sorted(
        {str(t) for t in getattr(tokenizer, "all_special_tokens", [])}
        | {str(t.content) for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special},
        key=len,
        reverse=True,
    )
    for token in specials:
        if token and after.startswith(token):
            token_id = tokenizer.convert_tokens_to_ids(token)
            return frozenset({int(token_id)}) if isinstance(token_id, int) else frozenset()
    return frozenset()


def _system_notice(mode: str, error: str | None) -> str | None:
    if mode == MERGED:
        return MERGED_NOTICE
    if mode == REFUSED:
        return REFUSED_NOTICE.format(detail=f"“{error}”" if error else "it raised an error")
    if mode == DROPPED:
        return DROPPED_NOTICE
    if mode == TRANSCRIPT:
        return NO_TEMPLATE_NOTICE
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def completion_prompt(tokenizer: Any, text: str) -> Prompt:
    """Raw text, as tutorial code does it: ``tokenizer(text).input_ids`` (BOS if the tokenizer adds one)."""
    if not text or not text.strip():
        raise PromptError("the prompt is empty; type some text to continue")
    ids = tokenizer.encode(text, add_special_tokens=True)
    if not ids:
        raise PromptError("the prompt encodes to no tokens")
    return Prompt(tuple(ids), text, templated=False)


def _check_messages(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    checked = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise PromptError(f"a message's role must be one of {', '.join(ROLES)}, not {role!r}")
        if not isinstance(content, str):
            raise PromptError(f"a {role} message's content must be text")
        checked.append({"role": role, "content": content})
    if not any(m["role"] == "user" and m["content"].strip() for m in checked):
        raise PromptError("the prompt is empty; type a message first")
    return checked


def _plain_transcript(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    text = "\n\n".join(f"{names[m['role']]}: {m['content']}" for m in messages)
    return text + "\n\nAssistant:" if add_generation_prompt else text


def document_prompt(tokenizer: Any, pieces: Sequence[str | Sequence[int]]) -> Prompt:
    """Completion mode: a document made of typed text and generated tokens, no chat template.

    Typed text is encoded (the first piece with the tokenizer's special tokens, as
    ``tokenizer(text)`` does); generated pieces keep their exact token ids, so continuing a
    continuation never re-tokenizes what the model produced.
    """
    ids: list[int] = []
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            if piece:
                ids.extend(tokenizer.encode(piece, add_special_tokens=index == 0))
        else:
            ids.extend(int(i) for i in piece)
    if not ids:
        raise PromptError("the prompt is empty; type some text to continue")
    return Prompt(tuple(ids), tokenizer.decode(ids), templated=False)
