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


@dataclass(frozen=True, slots=True)
class Prompt:
    ids: tuple[int, ...]
    text: str  # what the ids decode to: the exact templated prompt
    templated: bool  # False for raw completion text or the no-template fallback
    notice: str | None = None


def chat_prompt(
    tokenizer: Any, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True
) -> Prompt:
    """``apply_chat_template(messages, add_generation_prompt=True)`` as ids, with the text."""
    checked = _check_messages(messages)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            checked, add_generation_prompt=add_generation_prompt, tokenize=False
        )
        # The template already holds any BOS it wants, so encode without adding specials again
        # (this is what apply_chat_template(tokenize=True) does).
        ids = tokenizer.encode(text, add_special_tokens=False)
        return Prompt(tuple(ids), text, templated=True)
    text = _plain_transcript(checked, add_generation_prompt)
    ids = tokenizer.encode(text, add_special_tokens=True)
    return Prompt(tuple(ids), text, templated=False, notice=NO_TEMPLATE_NOTICE)


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
