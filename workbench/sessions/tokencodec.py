"""Compact binary encoding of a reply's :class:`TokenStep` records.

A reply is stored as chunks appended while it streams (a save never rewrites earlier tokens);
when it ends, the store writes it again as one chunk (small chunks each waste part of a page,
and one zlib stream over the whole reply is 15% smaller).
Each chunk is zlib over a little-endian, column-by-column layout (all token ids together, all
``p`` together, ...): like values sit next to each other, which is what zlib compresses well,
and 4-byte columns are split into byte planes (the exponent bytes of probabilities and the
high bytes of token ids repeat a lot; measured: 4% smaller than unsplit ints, 10%+ for floats).

Labels are the bulky strings. A chunk defines ``token id -> (label, kind)`` only for ids new
to its reply; later chunks refer to them by id. A reference whose label or kind differs from
its id's definition (it should not happen: a label is a function of the id) is stored as an
exception, so decoding is exact whatever the input.

Token ids are signed: -1 is a token a server named by its text alone (ids below 2^31 read the
same as the unsigned ids of chunks written before). NaN (a value a server does not give)
round-trips.

Floats are stored as float32: ``p``, ``q`` and ``entropy`` come back with a relative error
below 6e-8 (exactly, for the engine's values, which are float32 on the device anyway).
The chosen token's ``p``/``q`` are not stored again when they equal its candidate's
(``candidates[rank - 1]``), the common case.

Layout of the uncompressed chunk (n steps, c candidates in all, d new labels, e exceptions)::

    u8 version, u32 n, c, d, e, m (steps whose p/q are stored), i32 first index
    i32[n] index deltas  i32[n] token id  u32[n] rank  f32[n] entropy  u8[n] flags  u8[n] cands
    f32[m] p  f32[m] q   u32[n] text byte lengths + UTF-8
    i32[c] candidate ids  f32[c] p  f32[c] q
    i32[d] ids  u8[d] kinds  u32[d] label lengths + UTF-8
    u32[e] reference  u8[e] kinds  u32[e] label lengths + UTF-8
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence

from workbench.engine.errors import WorkbenchError
from workbench.engine.steps import Candidate, ChosenBy, TokenKind, TokenStep

VERSION = 1
LEVEL = 6  # zlib level: 9 saved <1% more on replies, at twice the time
MAX_CANDIDATES = 255

CHOSEN_BY: tuple[ChosenBy, ...] = ("sample", "greedy", "user")
KINDS: tuple[TokenKind, ...] = ("text", "bytes", "special")
# keyed by str: the encoder checks values that came from outside the type checker
_CHOSEN_CODE: dict[str, int] = {name: i for i, name in enumerate(CHOSEN_BY)}
_KIND_CODE: dict[str, int] = {name: i for i, name in enumerate(KINDS)}
_IS_END = 0x10
_PQ_FROM_CANDIDATE = 0x20

# token id -> (label, kind) for the labels a reply has defined so far
Labels = dict[int, tuple[str, TokenKind]]
_HEADER = struct.Struct("<BIIIIIi")


class CodecError(WorkbenchError, ValueError):
    """A chunk could not be encoded (a value out of range) or decoded (damaged data)."""


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # any Python str round-trips, lone surrogates too


def _shuffle(raw: bytes, width: int = 4) -> bytes:
    return b"".join(raw[i::width] for i in range(width))


def _unshuffle(planes: bytes, width: int = 4) -> bytes:
    out = bytearray(len(planes))
    size = len(planes) // width
    for i in range(width):
        out[i::width] = planes[i * size : (i + 1) * size]
    return bytes(out)


def _floats(values: Sequence[float]) -> bytes:
    try:
        return _shuffle(struct.pack(f"<{len(values)}f", *values))
    except (struct.error, OverflowError) as exc:
        raise CodecError(f"a probability or entropy does not fit a float32: {exc}") from None


def _ints(code: str, values: Sequence[int]) -> bytes:
    try:
        return _shuffle(struct.pack(f"<{len(values)}{code}", *values))  # high bytes of ids: mostly 0
    except struct.error as exc:
        raise CodecError(f"a token id, rank or index is out of range: {exc}") from None


def _strings(texts: Sequence[str]) -> bytes:
    blobs = [_utf8(t) for t in texts]
    return _ints("I", [len(b) for b in blobs]) + b"".join(blobs)


def _code(table: dict[str, int], value: str, what: str) -> int:
    try:
        return table[value]
    except KeyError:
        raise CodecError(f"unknown {what} {value!r}; expected one of {', '.join(table)}") from None


def encode_chunk(steps: Sequence[TokenStep], labels: Labels) -> bytes:
    """Encode ``steps``. ``labels`` holds the reply's definitions so far and is updated in
    place with the ones this chunk adds (pass a copy if the chunk may not be saved)."""
    n = len(steps)
    first = steps[0].index if steps else 0
    deltas, ids, ranks, entropies, flags, counts = [], [], [], [], [], []
    ps, qs, texts = [], [], []
    cand_ids, cand_ps, cand_qs = [], [], []
    defs: list[tuple[int, str, str]] = []
    exceptions: list[tuple[int, str, str]] = []
    previous = first

    def refer(position: int, token_id: int, label: str, kind: TokenKind) -> None:
        known = labels.get(token_id)
        if known is None:
            labels[token_id] = (label, kind)
            defs.append((token_id, label, kind))
        elif known != (label, kind):
            exceptions.append((position, label, kind))

    candidate_position = n  # references 0..n-1 are the steps' own labels, then candidates
    for i, step in enumerate(steps):
        deltas.append(step.index - previous)
        previous = step.index
        ids.append(step.token_id)
        ranks.append(step.rank)
        entropies.append(step.entropy)
        texts.append(step.text)
        if len(step.candidates) > MAX_CANDIDATES:
            raise CodecError(
                f"a step has {len(step.candidates)} candidates; at most {MAX_CANDIDATES} are stored"
            )
        counts.append(len(step.candidates))
        flag = _code(_CHOSEN_CODE, step.chosen_by, "chosen_by") | (_code(_KIND_CODE, step.kind, "kind") << 2)
        if step.is_end:
            flag |= _IS_END
        own = step.candidates[step.rank - 1] if 1 <= step.rank <= len(step.candidates) else None
        if own is not None and own.token_id == step.token_id and own.p == step.p and own.q == step.q:
            flag |= _PQ_FROM_CANDIDATE
        else:
            ps.append(step.p)
            qs.append(step.q)
        flags.append(flag)
        refer(i, step.token_id, step.label, step.kind)
        for cand in step.candidates:
            _code(_KIND_CODE, cand.kind, "kind")
            cand_ids.append(cand.token_id)
            cand_ps.append(cand.p)
            cand_qs.append(cand.q)
            refer(candidate_position, cand.token_id, cand.text, cand.kind)
            candidate_position += 1

    parts = [
        _HEADER.pack(VERSION, n, len(cand_ids), len(defs), len(exceptions), len(ps), first),
        _ints("i", deltas),
        _ints("i", ids),  # signed: -1 is "no id" (a server that gives only text)
        _ints("I", ranks),
        _floats(entropies),
        bytes(flags),
        bytes(counts),
        _floats(ps),
        _floats(qs),
        _strings(texts),
        _ints("i", cand_ids),
        _floats(cand_ps),
        _floats(cand_qs),
        _ints("i", [d[0] for d in defs]),
        bytes(_KIND_CODE[d[2]] for d in defs),
        _strings([d[1] for d in defs]),
        _ints("I", [x[0] for x in exceptions]),
        bytes(_KIND_CODE[x[2]] for x in exceptions),
        _strings([x[1] for x in exceptions]),
    ]
    return zlib.compress(b"".join(parts), LEVEL)


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw, self.at = raw, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.raw):
            raise CodecError("token chunk is truncated")
        out = self.raw[self.at : self.at + size]
        self.at += size
        return out

    def ints(self, code: str, count: int) -> tuple[int, ...]:
        return struct.unpack(f"<{count}{code}", _unshuffle(self.take(4 * count)))

    def floats(self, count: int) -> tuple[float, ...]:
        return struct.unpack(f"<{count}f", _unshuffle(self.take(4 * count)))

    def strings(self, count: int) -> list[str]:
        lengths = self.ints("I", count)
        out = []
        for length in lengths:
            out.append(self.take(length).decode("utf-8", "surrogatepass"))
        return out


def decode_chunk(data: bytes, labels: Labels) -> list[TokenStep]:
    """Decode one chunk; ``labels`` must hold the definitions of the reply's earlier chunks
    and is updated in place with this chunk's."""
    try:
        raw = zlib.decompress(data)
    except zlib.error as exc:
        raise CodecError(f"token chunk is damaged: {exc}") from None
    reader = _Reader(raw)
    version, n, c, d, e, m, first = _HEADER.unpack(reader.take(_HEADER.size))
    if version != VERSION:
        raise CodecError(f"token chunk has format version {version}; this version reads {VERSION}")
    deltas, ids, ranks = reader.ints("i", n), reader.ints("i", n), reader.ints("I", n)
    entropies = reader.floats(n)
    flags, counts = reader.take(n), reader.take(n)
    ps, qs = reader.floats(m), reader.floats(m)
    texts = reader.strings(n)
    cand_ids, cand_ps, cand_qs = reader.ints("i", c), reader.floats(c), reader.floats(c)
    def_ids, def_kinds, def_labels = reader.ints("i", d), reader.take(d), reader.strings(d)
    exc_refs, exc_kinds, exc_labels = reader.ints("I", e), reader.take(e), reader.strings(e)
    for token_id, kind, label in zip(def_ids, def_kinds, def_labels, strict=True):
        labels[token_id] = (label, KINDS[kind])
    overrides = {
        ref: (label, KINDS[kind]) for ref, kind, label in zip(exc_refs, exc_kinds, exc_labels, strict=True)
    }

    def label_of(position: int, token_id: int) -> tuple[str, TokenKind]:
        found = overrides.get(position) if overrides else None
        return found if found is not None else labels[token_id]

    steps: list[TokenStep] = []
    index, at, own_pq, position = first, 0, 0, n
    try:
        for i in range(n):
            index += deltas[i]
            cands = []
            for j in range(at, at + counts[i]):
                text, cand_kind = label_of(position, cand_ids[j])
                cands.append(Candidate(cand_ids[j], text, cand_ps[j], cand_qs[j], cand_kind))
                position += 1
            at += counts[i]
            flag = flags[i]
            if flag & _PQ_FROM_CANDIDATE:
                p, q = cands[ranks[i] - 1].p, cands[ranks[i] - 1].q
            else:
                p, q = ps[own_pq], qs[own_pq]
                own_pq += 1
            label, _ = label_of(i, ids[i])
            steps.append(
                TokenStep(
                    index=index,
                    token_id=ids[i],
                    label=label,
                    text=texts[i],
                    p=p,
                    q=q,
                    rank=ranks[i],
                    entropy=entropies[i],
                    candidates=tuple(cands),
                    chosen_by=CHOSEN_BY[flag & 3],
                    kind=KINDS[(flag >> 2) & 3],
                    is_end=bool(flag & _IS_END),
                )
            )
    except (IndexError, KeyError) as exc:
        raise CodecError(f"token chunk is damaged: {exc!r}") from None
    return steps


def decode_chunks(chunks: Iterable[bytes]) -> list[TokenStep]:
    """All the steps of a reply, from its chunks in order."""
    labels: Labels = {}
    steps: list[TokenStep] = []
    for chunk in chunks:
        steps.extend(decode_chunk(chunk, labels))
    return steps


def labels_of(chunks: Iterable[bytes]) -> Labels:
    """The label definitions a reply's chunks hold (to append to a reply saved elsewhere)."""
    labels: Labels = {}
    for chunk in chunks:
        decode_chunk(chunk, labels)
    return labels
