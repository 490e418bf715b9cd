"""``workbench sessions``: list, show, export, import, rename and delete saved conversations.

Everything shown here is user or model text: it goes to the terminal as ``rich.text.Text``
(never parsed as markup) after control characters are replaced (``safe_text``/``safe_line``).
No torch, transformers or Textual is imported on this path, and Rich only when a command
runs (``build_parser`` imports this module for every ``--help``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.engine.errors import SettingsError, WorkbenchError
from workbench.safetext import safe_line, safe_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

DEFAULT_LIST_LIMIT = 50


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sessions`` and its actions on the top-level command subparsers."""
    parser = subparsers.add_parser(
        "sessions",
        help="list, show, export, import, rename or delete saved sessions",
        description="Saved conversations. ID is a session number from 'workbench sessions list', or 'last'.",
    )
    actions = parser.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="saved sessions, newest first")
    listing.add_argument(
        "--search", "-s", default=None, metavar="Q", help="only sessions whose messages contain these words"
    )
    listing.add_argument(
        "--limit",
        "-n",
        type=int,
        default=None,
        help=f"show at most N (default {DEFAULT_LIST_LIMIT}; all with --json)",
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    show = actions.add_parser("show", help="print a session's conversation")
    show.add_argument("session", metavar="ID|last")
    show.add_argument(
        "--json", action="store_true", help="machine-readable output (the JSON export, with the id)"
    )

    export = actions.add_parser(
        "export", help="write a session as JSON (importable), Markdown or a self-contained HTML page"
    )
    export.add_argument("session", metavar="ID|last")
    export.add_argument(
        "--format",
        "-f",
        choices=["json", "md", "html"],
        default=None,
        help="default: from --out's suffix (.md, .html), else json; html: one page with no network use, "
        "reply tokens coloured by probability, each token's top-k (p and q) on hover",
    )
    export.add_argument(
        "--out", "-o", default=None, metavar="FILE", help="write to FILE instead of standard output"
    )
    export.add_argument("--tokens", action="store_true", help="include the per-token records (JSON only)")

    imports = actions.add_parser("import", help="add a session from a JSON export or a list of chat messages")
    imports.add_argument("file", metavar="FILE")

    delete = actions.add_parser("delete", help="delete a session and its messages")
    delete.add_argument("session", metavar="ID|last")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    rename = actions.add_parser("rename", help="give a session a new title")
    rename.add_argument("session", metavar="ID|last")
    rename.add_argument("title")
    return parser


def run(args: argparse.Namespace) -> int:
    handlers = {
        "list": _list,
        "show": _show,
        "export": _export,
        "import": _import,
        "delete": _delete,
        "rename": _rename,
    }
    return handlers[args.sessions_command](args)


def _store(create: bool = False) -> Any:
    from workbench.sessions import SessionStore

    return SessionStore(create=create)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _console() -> Console:
    from workbench.commands.common import output_console  # Rich only when a command runs

    return output_console()


def _text(text: str, style: str = "") -> Text:
    from rich.text import Text

    return Text(text, style=style)


def _list(args: argparse.Namespace) -> int:
    from workbench.sessions import NoDatabaseError

    if args.limit is not None and args.limit < 1:
        raise SettingsError(f"--limit must be at least 1, not {args.limit}")
    limit = args.limit if args.limit is not None or args.json else DEFAULT_LIST_LIMIT
    try:
        store = _store()
    except NoDatabaseError:
        if args.json:
            print("[]")
        else:
            _console().print(_text("No saved sessions yet.", style="dim"))
        return 0
    with store:
        rows = store.list_sessions(search=args.search, limit=limit)
        total = store.count_sessions(args.search) if not args.json else len(rows)
    if args.json:
        from workbench.sessions.portable import iso, to_json

        print(
            to_json(
                [
                    {
                        "id": r.id,
                        "title": r.title,
                        "model": r.model,
                        "messages": r.message_count,
                        "created": iso(r.created),
                        "updated": iso(r.updated),
                        "snippet": r.snippet,
                    }
                    for r in rows
                ]
            )
        )
        return 0
    console = _console()
    if not rows:
        console.print(_text("No sessions match." if args.search else "No saved sessions yet.", style="dim"))
        return 0
    what = f"{total} session{'s' if total != 1 else ''}" + (
        f" matching {safe_line(args.search)!r}" if args.search else ""
    )
    from rich.table import Table

    grid = Table(title=_text(what))
    grid.add_column("id", justify="right")
    grid.add_column("title", overflow="fold")
    grid.add_column("model")
    grid.add_column("msgs", justify="right")
    grid.add_column("updated")
    if args.search:
        grid.add_column("match", overflow="fold")
    for r in rows:
        cells: list[Any] = [
            str(r.id),
            _text(safe_line(r.title) or "(untitled)"),
            _text(safe_line(r.model)),
            str(r.message_count),
            _when(r.updated),
        ]
        if args.search:
            cells.append(_snippet_text(r.snippet, r.snippet_spans))
        grid.add_row(*cells)
    console.print(grid)
    if total > len(rows):
        console.print(_text(f"… {total - len(rows)} more; use --limit N to see them", style="dim"))
    return 0


def _snippet_text(snippet: str | None, spans: tuple[tuple[int, int], ...]) -> Text:
    if snippet is None:
        return _text("(title)", style="dim")
    from workbench.sessions.snippets import snippet_text

    return snippet_text(snippet, spans)


def _show(args: argparse.Namespace) -> int:
    from workbench.sessions.portable import export_session, provenance_line, settings_summary, to_json

    with _store() as store:
        session_id = store.resolve(args.session)
        if args.json:
            print(to_json({"id": session_id, **export_session(store, session_id)}))
            return 0
        session = store.get_session(session_id)
        messages = store.messages(session_id)
    console = _console()
    console.print(_text(safe_line(session.title or "(untitled)"), style="bold"))
    console.print(
        _text(
            f"session {session.id} · model {safe_line(session.model)} · created {_when(session.created)}"
            f" · updated {_when(session.updated)}",
            style="dim",
        )
    )
    if session.provenance:
        console.print(_text("ran: " + safe_line(provenance_line(session.provenance)), style="dim"))
    for line in settings_summary(session.load, session.sampling):
        console.print(_text(safe_line(line), style="dim"))
    for m in messages:
        label = m.role + (
            "" if m.status == "complete" else f" ({m.status}{', interrupted' if m.interrupted else ''})"
        )
        console.print()
        console.print(_text(label, style="bold cyan" if m.role == "user" else "bold magenta"))
        console.print(_text(safe_text(m.content)))
    if not messages:
        console.print(_text("(no messages)", style="dim"))
    return 0


def _export(args: argparse.Namespace) -> int:
    from workbench.sessions.portable import export_markdown, export_session, to_json

    out = Path(args.out) if args.out else None
    suffix = out.suffix.lower() if out is not None else ""
    fmt = args.format or {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}.get(suffix, "json")
    if fmt == "md" and args.tokens:
        raise SettingsError("--tokens only goes with --format json (Markdown has no token records)")
    if fmt == "html" and args.tokens:
        raise SettingsError("--tokens only goes with --format json (an HTML page always carries its tokens)")
    with _store() as store:
        session_id = store.resolve(args.session)
        if fmt == "json":
            text = to_json(export_session(store, session_id, include_tokens=args.tokens)) + "\n"
        elif fmt == "html":
            from workbench.sessions.html_export import export_html

            text = export_html(store, session_id)
        else:
            text = export_markdown(store, session_id)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise WorkbenchError(f"could not write {out}: {exc.strerror or exc}") from None
    print(f"wrote session {session_id} to {safe_line(str(out))}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from workbench.sessions.portable import import_file

    with _store(create=True) as store:
        session_id = import_file(store, Path(args.file))
        session = store.get_session(session_id)
        count = len(store.tree(session_id))
    _console().print(_text(f"imported session {session_id}: {safe_line(session.title)} ({count} messages)"))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with _store() as store:
        session_id = store.resolve(args.session)
        session = store.get_session(session_id)
        count = len(store.tree(session_id))
        if not args.yes:
            question = f"Delete session {session_id} \u201c{safe_line(session.title)}\u201d ({count} messages)? [y/N] "
            if not sys.stdin.isatty():
                raise WorkbenchError(
                    f"not deleting session {session_id} without confirmation; pass --yes to delete it"
                )
            try:
                answer = input(question)
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("not deleted", file=sys.stderr)
                return 1
        store.delete(session_id)
    print(f"deleted session {session_id}", file=sys.stderr)
    return 0


def _rename(args: argparse.Namespace) -> int:
    with _store() as store:
        session_id = store.resolve(args.session)
        store.rename(session_id, args.title)
        title = store.get_session(session_id).title
    _console().print(_text(f"session {session_id} is now \u201c{safe_line(title)}\u201d"))
    return 0
