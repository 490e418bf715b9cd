"""Turn generated token ids into text one token at a time, without breaking characters.

Decoding each token on its own turns a character split over byte tokens (an emoji is often
four) into U+FFFD replacement characters. ``tokenizers.decoders.DecodeStream`` holds bytes
back until the character is complete; tokenizers without a Rust backend fall back to
decoding the whole reply and handing out the new, complete part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# A few prompt tokens give the decoder the context it needs for leading-space rules
# (SentencePiece strips the space of a sequence's first piece).
_PREFIX_TOKENS = 4


class TextStream:
    def __init__(
        self, tokenizer: Any, prefix_ids: Sequence[int] = (), skip_special_tokens: bool = True
    ) -> None:
        self._tokenizer = tokenizer
        self._skip_special = skip_special_tokens
        self._prefix = list(prefix_ids)[-_PREFIX_TOKENS:]
        self._held: list[int] = []  # ids whose text is not out yet
        backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
        self._backend = backend
        self._stream = self._new_stream() if backend is not None else None
        self._ids: list[int] = []  # slow-tokenizer path only
        self._emitted = ""

    def _new_stream(self) -> Any:
        from tokenizers.decoders import DecodeStream

        try:
            return DecodeStream(ids=self._prefix, skip_special_tokens=self._skip_special)
        except TypeError:  # older tokenizers without the ``ids`` prefix argument
            return DecodeStream(skip_special_tokens=self._skip_special)

    def step(self, token_id: int) -> str:
        """The text ``token_id`` completes: '' while a character is still incomplete."""
        if self._stream is not None:
            chunk = self._stream.step(self._backend, int(token_id))
            if chunk is None:
                self._held.append(int(token_id))
                return ""
            self._held.clear()
            return chunk
        return self._slow_step(int(token_id))

    def _slow_step(self, token_id: int) -> str:
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._prefix + self._ids, skip_special_tokens=self._skip_special)
        prefix_text = self._tokenizer.decode(self._prefix, skip_special_tokens=self._skip_special)
        text = text[len(prefix_text) :]
        if text.endswith("\ufffd"):
            self._held.append(token_id)
            return ""
        self._held.clear()
        new = text[len(self._emitted) :]
        self._emitted = text
        return new

    def flush(self) -> str:
        """Text of the bytes still held back at the end: incomplete, so shown as U+FFFD."""
        if not self._held:
            return ""
        text = self._tokenizer.decode(self._held, skip_special_tokens=self._skip_special)
        self._held.clear()
        return text
