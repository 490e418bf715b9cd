"""Sessions in and out of the database: JSON export/import and a Markdown export.

The JSON export (``"format": "workbench-session"``, ``"version": 1``)::

    {"format", "version", "title", "model",
     "settings": {"load": {...}, "sampling": {...}, "ui": {...}},
     "provenance": {"model", "source", "location", "file", "revision" | "sha256",
                    "device", "dtype", "dtype_reason", "torch", "transformers",
                    "quantization", "compile", "compile_seconds", "max_memory"},  # when recorded
     "created", "updated",                    # ISO 8601, UTC
     "messages": [{"role", "content"}, ...],  # the active branch: chat-template / OpenAI format
     "tree": [{"id", "parent_id", "role", "content", "status", "created", "stats", "sampling"}],
     "active_leaf_id",                        # a tree id: the branch "messages" shows
     "tokens": [{"tree_id", "message", "steps": [...]}]}   # only with include_tokens

``tree`` holds every message of every branch, so an import gives back the same conversation
tree; ``message`` in a token entry is the index in ``messages`` (None off the active branch).
Import also takes a plain ``[{"role", "content"}, ...]`` list, or ``{"messages": [...]}``
as OpenAI-style request bodies have. A file is validated completely before anything is
written, and then written in one transaction: a bad file changes nothing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from workbench.engine.errors import SettingsError, WorkbenchError
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.engine.steps import Candidate, TokenStep
from workbench.safetext import safe_line, safe_text
from workbench.sessions.records import ROLES, STATUSES, MessageRecord, make_title
from workbench.sessions.store import MessageDraft, SessionStore
from workbench.sessions.tokencodec import CHOSEN_BY, KINDS

_Name = TypeVar("_Name", bound=str)  # one of a fixed set of names (a Literal type)

FORMAT = "workbench-session"
VERSION = 1
ROLE_ALIASES = {"developer": "system"}  # OpenAI's newer name for the system role


class ImportFileError(WorkbenchError):
    """The file to import is not a session we can read; the message says what is wrong."""


# -- export --------------------------------------------------------------------------------


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _or_null(value: float) -> float | None:
    """JSON has no NaN: a value the backend did not give is null."""
    return None if math.isnan(value) else value


def step_to_dict(step: TokenStep) -> dict[str, Any]:
    return {
        "index": step.index,
        "token_id": step.token_id,
        "label": step.label,
        "text": step.text,
        "p": _or_null(step.p),
        "q": _or_null(step.q),
        "rank": step.rank,
        "entropy_nats": _or_null(step.entropy),  # of p; the importer also takes "entropy" (nats)
        "entropy_bits": _or_null(step.entropy / math.log(2)),
        "chosen_by": step.chosen_by,
        "kind": step.kind,
        "is_end": step.is_end,
        "candidates": [[c.token_id, c.text, _or_null(c.p), _or_null(c.q), c.kind] for c in step.candidates],
    }


def export_session(store: SessionStore, session_id: int, *, include_tokens: bool = False) -> dict[str, Any]:
    """The session as a JSON-ready dict (see the module docstring)."""
    session = store.get_session(session_id)
    tree = store.tree(session_id)
    branch = store.messages(session_id)
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "title": session.title,
        "model": session.model,
        "settings": {"load": session.load, "sampling": session.sampling, "ui": session.ui},
        "created": iso(session.created),
        "updated": iso(session.updated),
        "messages": [m.chat() for m in branch],
        "tree": [_tree_entry(m) for m in tree],
        "active_leaf_id": branch[-1].id if branch else None,
    }
    if session.provenance:
        data["provenance"] = session.provenance
    if include_tokens:
        position = {m.id: i for i, m in enumerate(branch)}
        data["tokens"] = [
            {
                "tree_id": m.id,
                "message": position.get(m.id),
                "steps": [step_to_dict(s) for s in store.token_steps(m.id)],
            }
            for m in tree
            if m.token_count
        ]
    return data


def _tree_entry(m: MessageRecord) -> dict[str, Any]:
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role,
        "content": m.content,
        "status": m.status,
        "created": iso(m.created),
        "stats": {**m.stats, "interrupted": True} if m.interrupted else m.stats,
        "sampling": m.sampling,
    }


# C1 controls pass through json.dumps(ensure_ascii=False) raw (some terminals act on them),
# and lone surrogates cannot be written as UTF-8: escape both, which stays valid JSON.
_UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f\ud800-\udfff]")


def to_json(data: Any, indent: int | None = 1) -> str:
    """JSON text that is safe to print and to write as UTF-8 (non-ASCII text kept readable)."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    return str(value)


def settings_summary(load: dict[str, Any], sampling: dict[str, Any]) -> list[str]:
    """One short line each for the load and sampling settings, e.g.
    ``Sampling: temperature 0.7 · top k 50 · ...`` (``Sampling: greedy · ...`` when greedy)."""
    lines = []
    loads = [f"{k.replace('_', ' ')} {_number(v)}" for k, v in load.items() if k != "model"]
    if loads:
        lines.append("Loading: " + " · ".join(loads))
    if sampling:
        greedy = sampling.get("do_sample") is False or sampling.get("temperature") == 0
        parts = ["greedy"] if greedy else []
        parts += [
            f"{k.replace('_', ' ')} {_number(v)}"
            for k, v in sampling.items()
            if k != "do_sample" and v is not None
        ]
        lines.append("Sampling: " + " · ".join(parts))
    return lines


def provenance_line(record: dict[str, Any]) -> str:
    """What ran, in one line: ``SmolLM2 (bundled …/x.gguf, sha256 0123abcd…) on cpu in bfloat16``."""
    where = str(record.get("location", ""))
    if record.get("file"):
        where = f"{where}/{record['file']}"
    detail = [f"{record.get('source', '?')} {where}".strip()]
    if record.get("revision"):
        detail.append(f"revision {record['revision']}")
    hashes = record.get("sha256")
    if isinstance(hashes, dict):
        detail += [f"sha256 {name}: {digest}" for name, digest in hashes.items()]
    line = f"{record.get('model', 'unknown model')} ({'; '.join(detail)})"
    line += f" on {record.get('device', '?')} in {record.get('dtype', '?')}"
    if record.get("dtype_reason"):
        line += f" ({record['dtype_reason']})"
    if record.get("quantization") not in (None, "none"):
        line += f", {record['quantization']} weights"
    if record.get("compile") not in (None, "off"):
        line += f", {record['compile']}"
    return line


def _stats_line(m: MessageRecord) -> str:
    stats = dict(m.stats)
    if m.token_count and not {"tokens", "token_count"} & set(stats):
        stats = {"tokens": m.token_count, **stats}
    shown = {
        k: v for k, v in stats.items() if k not in ("error", "interrupted") and not isinstance(v, dict | list)
    }
    return " · ".join(f"{k.replace('_', ' ')}: {_number(v)}" for k, v in shown.items())


def export_markdown(store: SessionStore, session_id: int) -> str:
    """A readable Markdown transcript of the active branch, control characters made visible."""
    session = store.get_session(session_id)
    branch = store.messages(session_id)
    total = len(store.tree(session_id))
    out = [f"# {safe_line(session.title or 'Untitled session')}", ""]
    out.append(f"- **Model:** `{safe_line(session.model or 'unknown')}`")
    out.append(
        f"- **Created:** {iso(session.created)[:19].replace('T', ' ')} UTC · "
        f"**Updated:** {iso(session.updated)[:19].replace('T', ' ')} UTC"
    )
    if session.provenance:
        out.append(f"- **Ran:** {safe_line(provenance_line(session.provenance))}")
    out.extend(f"- {safe_line(line)}" for line in settings_summary(session.load, session.sampling))
    system_prompt = session.ui.get("system_prompt")
    if isinstance(system_prompt, str) and system_prompt and not any(m.role == "system" for m in branch):
        out.append(f"- **System prompt:** {safe_line(system_prompt)}")
    if total > len(branch):
        out.append(f"- {total - len(branch)} more message(s) on other branches are not shown")
    for m in branch:
        heading = m.role.capitalize()
        if m.status != "complete":
            heading += f" ({m.status})"
        out += ["", f"## {heading}", ""]
        out.append(safe_text(m.content).rstrip() if m.content.strip() else "*(no text)*")
        if m.status == "stopped":
            why = "the app was closed while it was writing" if m.interrupted else "stopped by the user"
            out += ["", f"> **Stopped** before the reply finished ({why})."]
        elif m.status == "error":
            detail = m.stats.get("error")
            out += ["", "> **Error:** the reply failed" + (f": {safe_line(str(detail))}" if detail else ".")]
        stats = _stats_line(m) if m.role == "assistant" else ""
        if stats:
            out += ["", f"*{safe_line(stats)}*"]
    return "\n".join(out) + "\n"


# -- import --------------------------------------------------------------------------------


def read_json_file(path: Path) -> Any:
    """Parse a file as JSON, or raise an ImportFileError that says why it cannot be."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(f"{path} is not a JSON session export (it is not UTF-8 text)") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ImportFileError(f"{path} is not a JSON session export (not valid JSON: {exc})") from None


def import_file(store: SessionStore, path: Path) -> int:
    """Import a JSON export or a chat message list; returns the new session's id."""
    return import_session(store, read_json_file(path), source=str(path))


def import_session(store: SessionStore, data: Any, *, source: str = "the import") -> int:
    """Validate ``data`` completely, then write it in one transaction; returns the new id."""
    fields = _parse(data, source)
    return store.add_session(**fields)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


class _Check:
    """Type checks that name the offending field, e.g. ``tree[3].parent_id``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ImportFileError:
        return ImportFileError(f"{self.source}: {where} {message}")

    def get(self, obj: dict[str, Any], key: str, where: str, required: bool = True) -> Any:
        if key not in obj:
            if required:
                raise ImportFileError(f"{self.source}: {where or 'the file'} is missing the field {key!r}")
            return None
        return obj[key]

    def typed(self, value: Any, where: str, kind: type | tuple[type, ...], what: str) -> Any:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        if not ok:
            raise self.fail(where, f"must be {what}, not {_kind(value)}")
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _parse(data: Any, source: str) -> dict[str, Any]:
    fields = _parse_fields(data, _Check(source))
    if not fields["title"]:
        first_user = next((d.content for d in fields["messages"] if d.role == "user"), "")
        fields["title"] = make_title(first_user) or "Imported session"
    return fields


def _parse_fields(data: Any, check: _Check) -> dict[str, Any]:
    source = check.source
    if isinstance(data, list):
        return _from_chat(check, data, {}, "messages")
    if not isinstance(data, dict):
        raise check.fail(
            "", f"must hold a workbench session export or a list of chat messages, not {_kind(data)}"
        )
    if "format" not in data:
        if isinstance(data.get("messages"), list):  # an OpenAI-style {"model", "messages"} body
            return _from_chat(check, data["messages"], data, "messages")
        raise ImportFileError(
            f"{source} is not a workbench session export (no 'format' field) nor a list of {{role, content}} messages"
        )
    if data["format"] != FORMAT:
        raise check.fail(
            "format", f"is {data['format']!r}, not {FORMAT!r}: this is not a workbench session export"
        )
    version = check.typed(check.get(data, "version", ""), "version", int, "a whole number")
    if version > VERSION:
        raise check.fail(
            "version", f"is {version}: the file comes from a newer workbench (this one reads up to {VERSION})"
        )
    messages = check.typed(check.get(data, "messages", ""), "messages", list, "a list of messages")
    if "tree" not in data:
        fields = _from_chat(check, messages, data, "messages")
        tree_keys = [d.key for d in fields["messages"]]
        branch_keys = tree_keys
    else:
        fields = _common(check, data)
        drafts = _tree(check, check.typed(data["tree"], "tree", list, "a list of messages"))
        fields["messages"] = drafts
        tree_keys = [d.key for d in drafts]
        active = data.get("active_leaf_id")
        if active is not None and active not in tree_keys:
            raise check.fail("active_leaf_id", f"{active!r} is not the id of a message in 'tree'")
        fields["active_key"] = active if active is not None else (tree_keys[-1] if tree_keys else None)
        branch_keys = _path(drafts, fields["active_key"])
        _chat_messages(check, messages, "messages")  # type-check it even though the tree wins
    tokens = data.get("tokens")
    if tokens is not None:
        _attach_tokens(check, tokens, fields["messages"], tree_keys, branch_keys)
    return fields


def _common(check: _Check, data: dict[str, Any]) -> dict[str, Any]:
    title = check.typed(data.get("title") or "", "title", str, "text")
    settings = check.typed(data.get("settings") or {}, "settings", dict, "an object")
    load = check.typed(settings.get("load") or {}, "settings.load", dict, "an object")
    sampling = check.typed(settings.get("sampling") or {}, "settings.sampling", dict, "an object")
    ui = check.typed(settings.get("ui") or {}, "settings.ui", dict, "an object")
    provenance = check.typed(data.get("provenance") or {}, "provenance", dict, "an object")
    model = data.get("model")
    model = check.typed(model if model is not None else load.get("model", "default"), "model", str, "text")
    try:  # invalid settings would only fail later, when the session is resumed
        LoadSettings.from_dict({**load, "model": model or "default"})
        SamplingSettings.from_dict(sampling)
    except SettingsError as exc:
        raise check.fail("settings", f"are not valid: {exc}") from None
    return {
        "title": title,
        "model": model,
        "load": load,
        "sampling": sampling,
        "ui": ui,
        "provenance": provenance,
        "created": _time(check, data.get("created"), "created"),
        "updated": _time(check, data.get("updated"), "updated"),
    }


def _time(check: _Check, value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            raise check.fail(where, f"is not an ISO 8601 date: {value!r}") from None
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    raise check.fail(where, f"must be an ISO 8601 date, not {_kind(value)}")


def _content(check: _Check, value: Any, where: str) -> str:
    if isinstance(value, list):  # OpenAI content parts: keep the text ones
        texts = []
        for i, part in enumerate(value):
            part = check.typed(part, f"{where}[{i}]", dict, "an object")
            if part.get("type") != "text":
                raise check.fail(
                    f"{where}[{i}]", f"is a {part.get('type')!r} part; only text can be imported"
                )
            texts.append(
                check.typed(check.get(part, "text", f"{where}[{i}]"), f"{where}[{i}].text", str, "text")
            )
        return "".join(texts)
    return check.typed(value, where, str, "text")


def _role(check: _Check, value: Any, where: str) -> str:
    role = ROLE_ALIASES.get(value, value) if isinstance(value, str) else value
    if role not in ROLES:
        raise check.fail(where, f"is {value!r}; a role must be one of {', '.join(ROLES)}")
    return role


def _chat_messages(check: _Check, messages: list[Any], where: str) -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(messages):
        here = f"{where}[{i}]"
        item = check.typed(item, here, dict, "an object with 'role' and 'content'")
        out.append(
            (
                _role(check, check.get(item, "role", here), f"{here}.role"),
                _content(check, check.get(item, "content", here), f"{here}.content"),
            )
        )
    return out


def _from_chat(check: _Check, messages: Any, data: dict[str, Any], where: str) -> dict[str, Any]:
    messages = check.typed(messages, where, list, "a list of messages")
    fields = _common(check, data)
    pairs = _chat_messages(check, messages, where)
    fields["messages"] = [
        MessageDraft(i, i - 1 if i else None, role, content) for i, (role, content) in enumerate(pairs)
    ]
    fields["active_key"] = len(pairs) - 1 if pairs else None
    return fields


def _tree(check: _Check, entries: list[Any]) -> list[MessageDraft]:
    drafts: list[MessageDraft] = []
    seen: set[Any] = set()
    for i, entry in enumerate(entries):
        here = f"tree[{i}]"
        entry = check.typed(entry, here, dict, "an object")
        key = check.typed(check.get(entry, "id", here), f"{here}.id", (int, str), "a number or text")
        if key in seen:
            raise check.fail(f"{here}.id", f"{key!r} is used twice")
        parent = entry.get("parent_id")
        if parent is not None and parent not in seen:
            raise check.fail(f"{here}.parent_id", f"{parent!r} is not the id of an earlier message in 'tree'")
        status = check.typed(entry.get("status", "complete"), f"{here}.status", str, "text")
        if status not in STATUSES:
            raise check.fail(f"{here}.status", f"is {status!r}; it must be one of {', '.join(STATUSES)}")
        sampling = entry.get("sampling")
        if sampling is not None:
            check.typed(sampling, f"{here}.sampling", dict, "an object or null")
        seen.add(key)
        drafts.append(
            MessageDraft(
                key=key,
                parent_key=parent,
                role=_role(check, check.get(entry, "role", here), f"{here}.role"),
                content=_content(check, check.get(entry, "content", here), f"{here}.content"),
                status=status,
                created=_time(check, entry.get("created"), f"{here}.created"),
                stats=check.typed(entry.get("stats") or {}, f"{here}.stats", dict, "an object"),
                sampling=sampling,
            )
        )
    return drafts


def _path(drafts: Sequence[MessageDraft], leaf: Any) -> list[Any]:
    parents = {d.key: d.parent_key for d in drafts}
    path = []
    while leaf is not None:
        path.append(leaf)
        leaf = parents[leaf]
    return path[::-1]


def _attach_tokens(
    check: _Check, tokens: Any, drafts: list[MessageDraft], tree_keys: list[Any], branch_keys: list[Any]
) -> None:
    check.typed(tokens, "tokens", list, "a list")
    position = {key: i for i, key in enumerate(tree_keys)}
    for i, entry in enumerate(tokens):
        here = f"tokens[{i}]"
        entry = check.typed(entry, here, dict, "an object")
        key = entry.get("tree_id")
        if key is None:
            index = check.typed(check.get(entry, "message", here), f"{here}.message", int, "a message index")
            if not 0 <= index < len(branch_keys):
                raise check.fail(f"{here}.message", f"{index} is not an index into 'messages'")
            key = branch_keys[index]
        if key not in position:
            raise check.fail(f"{here}.tree_id", f"{key!r} is not the id of a message in 'tree'")
        steps = check.typed(check.get(entry, "steps", here), f"{here}.steps", list, "a list")
        parsed = [_step(check, s, f"{here}.steps[{j}]") for j, s in enumerate(steps)]
        at = position[key]
        old = drafts[at]
        drafts[at] = MessageDraft(
            old.key,
            old.parent_key,
            old.role,
            old.content,
            old.status,
            old.created,
            old.stats,
            old.sampling,
            parsed,
        )


def _step(check: _Check, data: Any, where: str) -> TokenStep:
    data = check.typed(data, where, dict, "an object")

    def field(name: str, kind: type | tuple[type, ...], what: str) -> Any:
        return check.typed(check.get(data, name, where), f"{where}.{name}", kind, what)

    def choice(name: str, allowed: tuple[_Name, ...], default: _Name) -> _Name:
        value = data.get(name, default)
        if value not in allowed:
            raise check.fail(f"{where}.{name}", f"is {value!r}; it must be one of {', '.join(allowed)}")
        return value

    candidates = []
    for k, item in enumerate(field("candidates", list, "a list")):
        here = f"{where}.candidates[{k}]"
        item = check.typed(item, here, list, "a list [token_id, text, p, q, kind]")
        if not 4 <= len(item) <= 5:
            raise check.fail(here, "must be a list [token_id, text, p, q, kind]")
        check.typed(item[0], f"{here}[0]", int, "a token id")
        check.typed(item[1], f"{here}[1]", str, "text")
        check.typed(item[2], f"{here}[2]", (int, float, type(None)), "a number or null")
        check.typed(item[3], f"{here}[3]", (int, float, type(None)), "a number or null")
        item = [*item[:2], *(math.nan if v is None else v for v in item[2:4]), *item[4:]]
        if len(item) == 5 and item[4] not in KINDS:
            raise check.fail(f"{here}[4]", f"is {item[4]!r}; it must be one of {', '.join(KINDS)}")
        candidates.append(Candidate.from_list(item))

    def number(name: str) -> float:  # null: not given by the backend that made it
        value = field(name, (int, float, type(None)), "a number or null")
        return math.nan if value is None else float(value)

    return TokenStep(
        index=field("index", int, "a whole number"),
        token_id=field("token_id", int, "a token id"),
        label=field("label", str, "text"),
        text=field("text", str, "text"),
        p=number("p"),
        q=number("q"),
        rank=field("rank", int, "a whole number"),
        entropy=number("entropy_nats" if "entropy_nats" in data else "entropy"),
        candidates=tuple(candidates),
        chosen_by=choice("chosen_by", CHOSEN_BY, "sample"),
        kind=choice("kind", KINDS, "text"),
        is_end=bool(check.typed(data.get("is_end", False), f"{where}.is_end", bool, "true or false")),
    )
