"""Tokenizer inspection: what each token is, shown so whitespace, bytes and specials are visible.

Token strings are data: labels never carry control characters (they become visible
stand-ins), so they are safe to print, store and put in a widget.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from workbench.engine.steps import TokenKind
from workbench.safetext import safe_text

_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
# How whitespace shows inside a token label.
_VISIBLE_WS = str.maketrans(
    {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5", "\r": "\u240d", "\u00a0": "\u237d"}  # ⍽: a no-break space
)


def _hex_bytes_handler(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):  # registered for decoding only
        raise error
    bad = error.object[error.start : error.end]
    return "".join(f"<0x{b:02X}>" for b in bad), error.end


codecs.register_error("workbench-hex", _hex_bytes_handler)


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, inverted: each printable stand-in char -> its byte."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, codes, strict=True)}


def _uses_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return decoder is not None and "ByteLevel" in repr(decoder)


def bytes_label(raw: bytes) -> str:
    """A token's label from its bytes, as ``TokenInfo.label`` makes it: whitespace visible,
    partial UTF-8 as ``<0xNN>``, control characters inert (used for tokens a server sent)."""
    return safe_text(raw.decode("utf-8", errors="workbench-hex").translate(_VISIBLE_WS))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: int
    piece: str  # the vocabulary entry as stored ("Ġgood", "▁good", "<0xE5>")
    raw: bytes | None  # the bytes it contributes to text; None for special tokens
    kind: TokenKind

    @property
    def text(self) -> str:
        """The token's text: bytes decoded, partial UTF-8 shown as <0xNN>; no whitespace marks."""
        if self.raw is None:
            return safe_text(self.piece)
        return safe_text(self.raw.decode("utf-8", errors="workbench-hex"))

    @property
    def label(self) -> str:
        """The text with whitespace made visible: ' good' -> '␣good', '\\n' -> '↵'."""
        if self.raw is None:
            return safe_text(self.piece)
        return safe_text(self.raw.decode("utf-8", errors="workbench-hex").translate(_VISIBLE_WS))


class TokenTable:
    """Per-tokenizer token facts, computed on demand and cached."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._byte_level = _uses_byte_level(tokenizer)
        self._special = set(getattr(tokenizer, "all_special_ids", []) or [])
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        self._special.update(i for i, tok in added.items() if getattr(tok, "special", False))
        self._info: dict[int, TokenInfo] = {}
        self.size = len(tokenizer)
        self._all_texts: list[str] | None = None

    def info(self, token_id: int) -> TokenInfo:
        token_id = int(token_id)
        found = self._info.get(token_id)
        if found is None:
            found = self._info[token_id] = self._compute(token_id)
        return found

    def label(self, token_id: int) -> str:
        return self.info(token_id).label

    def kind(self, token_id: int) -> TokenKind:
        return self.info(token_id).kind

    def _compute(self, token_id: int) -> TokenInfo:
        if not 0 <= token_id < self.size:
            raise ValueError(f"token id {token_id} is outside the vocabulary (0..{self.size - 1})")
        piece = self.tokenizer.convert_ids_to_tokens(token_id)
        if piece is None:
            piece = ""
        if token_id in self._special:
            return TokenInfo(token_id, piece, None, "special")
        match = _BYTE_PIECE.match(piece)
        if match:  # SentencePiece byte fallback
            return TokenInfo(token_id, piece, bytes([int(match.group(1), 16)]), "bytes")
        if self._byte_level:
            table = _byte_decoder()
            if all(ch in table for ch in piece):
                raw = bytes(table[ch] for ch in piece)
            else:  # an added (non-special) token stored as plain text
                raw = piece.encode()
        elif "\u2581" in piece:  # SentencePiece marks a leading space with ▁
            raw = piece.replace("\u2581", " ").encode()
        else:
            raw = self.tokenizer.decode([token_id]).encode()
        kind: TokenKind = "text"
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            kind = "bytes"
        return TokenInfo(token_id, piece, raw, kind)

    def texts(self) -> list[str]:
        """Every token's text, by id (built once: about a second for a 262k vocabulary)."""
        if self._all_texts is None:
            self._all_texts = [self.info(i).text for i in range(self.size)]
        return self._all_texts


# --- splitting text --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenSpan:
    token_id: int
    label: str
    kind: TokenKind
    start: int | None  # character offsets into the text, when the tokenizer reports them
    end: int | None


@dataclass(frozen=True, slots=True)
class Tokenization:
    text: str
    spans: tuple[TokenSpan, ...]

    @property
    def ids(self) -> list[int]:
        return [s.token_id for s in self.spans]

    @property
    def chars_per_token(self) -> float:
        return len(self.text) / len(self.spans) if self.spans else 0.0


def tokenize(table: TokenTable, text: str, add_special_tokens: bool = False) -> Tokenization:
    """Split ``text`` into tokens with their ids, labels and character offsets."""
    tokenizer = table.tokenizer
    try:
        encoded = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
    except (NotImplementedError, ValueError, TypeError):
        encoded = tokenizer(text, add_special_tokens=add_special_tokens)
        offsets = [(None, None)] * len(encoded["input_ids"])
    spans = tuple(
        TokenSpan(i, table.label(i), table.kind(i), start, end)
        for i, (start, end) in zip(encoded["input_ids"], offsets, strict=True)
    )
    return Tokenization(text, spans)


def describe_ids(table: TokenTable, ids: Sequence[int]) -> list[TokenSpan]:
    """Spans for a list of ids (no offsets): for templated prompts and 'decode these ids'."""
    return [TokenSpan(i, table.label(i), table.kind(i), None, None) for i in ids]


def parse_ids(text: str) -> list[int]:
    """'12, 345 6' or '[12, 345]' -> [12, 345, 6]; raises ValueError naming the bad part."""
    parts = [p for p in re.split(r"[\s,\[\]]+", text.strip()) if p]
    ids = []
    for part in parts:
        if not part.isdigit():
            raise ValueError(f"{part!r} is not a token id (ids are whole numbers such as 1, 42, 9690)")
        ids.append(int(part))
    return ids


# --- the vocabulary --------------------------------------------------------------------


def search_vocab(
    table: TokenTable, query: str, mode: str = "substring", limit: int | None = None
) -> Iterator[int]:
    """Ids of tokens whose text matches ``query``.

    ``substring`` matches the token's text (so ' good' finds 'Ġgood'), ``regex`` a Python
    regular expression, ``id`` an id ('42') or a range ('100-120').
    """
    count = 0
    if mode == "id":
        for token_id in _id_query(query, table.size):
            yield token_id
            count += 1
            if limit is not None and count >= limit:
                return
        return
    match: Callable[[str], object]  # truthy for a matching token text
    if mode == "regex":
        try:
            pattern = re.compile(query)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        match = pattern.search
    elif mode == "substring":
        lowered = query.lower()

        def match(text: str) -> bool:
            return lowered in text.lower()
    else:
        raise ValueError(f"search mode must be substring, regex or id, not {mode!r}")
    for token_id, text in enumerate(table.texts()):
        if match(text):
            yield token_id
            count += 1
            if limit is not None and count >= limit:
                return


def _id_query(query: str, size: int) -> range:
    text = query.strip()
    low, dash, high = text.partition("-")
    try:
        start = int(low)
        stop = int(high) if dash else start
    except ValueError:
        raise ValueError(f"{query!r} is not an id or an id range such as 100-120") from None
    if start < 0 or stop < start:
        raise ValueError(f"{query!r} is not a valid id range")
    return range(max(0, start), min(size, stop + 1))


def export_vocabulary(table: TokenTable, path: Path, ids: Sequence[int] | None = None) -> int:
    """Write tokens (all, or ``ids``) as JSON (a list of objects), TSV (with a header) or text.

    Token text is written as it is (JSON-escaped, or with tab/newline/backslash escaped in
    TSV/text). Returns the number of tokens written; ``OSError`` propagates.
    """
    ids = range(table.size) if ids is None else ids
    rows: list[dict[str, Any]] = [
        {"id": i, "token": table.info(i).text, "label": table.label(i), "kind": table.kind(i)} for i in ids
    ]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        return len(rows)
    lines = ["id\ttoken\tkind"] if path.suffix.lower() == ".tsv" else []
    for row in rows:
        text = row["token"].replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        lines.append(f"{row['id']}\t{text}\t{row['kind']}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)
