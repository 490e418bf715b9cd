"""``workbench classify TEXT``: label probabilities from a classifier, or zero-shot from a causal LM."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from workbench.commands.common import output_console
from workbench.config import load_settings, user_config
from workbench.engine.classify import check_template, check_text, parse_labels
from workbench.engine.errors import SettingsError, WorkbenchError
from workbench.safetext import safe_line

if TYPE_CHECKING:
    from workbench.engine.classify import Classification
    from workbench.engine.loading import LoadedModel
    from workbench.engine.settings import LoadSettings

BAR_WIDTH = 30


def run(args: argparse.Namespace) -> int:
    if args.file is not None:
        if args.text is not None:
            raise SettingsError("give TEXT or --file, not both")
        return run_file(args)
    if args.out is not None:
        raise SettingsError("--out is for --file (a file of texts, one per line); for TEXT use --json")
    if args.text is None:
        raise SettingsError("give the TEXT to classify, or --file FILE with one text per line")
    text = check_text(args.text)
    labels, template = _options(args)
    config = user_config()
    loaded = _load(load_settings(args, config), quiet=args.json)

    from workbench.engine.classify import classify

    result = classify(loaded, text, labels, template, effects=True)
    if args.json:
        print(json.dumps(as_json(loaded, result), ensure_ascii=False))
    else:
        show(loaded, result)
    return 0


def _options(args: argparse.Namespace) -> tuple[tuple[str, ...] | None, str | None]:
    """--labels and --template, checked before the slow imports and the model load."""
    labels = parse_labels(args.labels) if args.labels is not None else None
    # A typed \n is a newline (a shell does not turn '\n' into one inside quotes).
    raw = args.template.replace("\\n", "\n") if args.template is not None else None
    template = check_template(raw) if raw is not None else None
    return labels, template


def record(loaded: LoadedModel, result: Classification) -> dict[str, Any]:
    """``{"model", "text", "labels": [{"label", "p"}, ...]}`` (most probable first) and how."""
    labels: list[dict[str, Any]] = []
    for score in result.labels:
        entry: dict[str, Any] = {"label": score.label, "p": score.p}
        if result.method == "classifier":
            entry["logit"] = score.score
        else:
            entry["logprob"] = score.score
            entry["tokens"] = [{"id": t.token_id, "token": t.label, "p": t.p} for t in score.tokens]
        labels.append(entry)
    out: dict[str, Any] = {
        "model": loaded.source.display_name,
        "text": result.text,
        "labels": labels,
        "method": result.method,
        "winner": result.top.label,
        "input_tokens": result.input_tokens,
    }
    if result.method == "zero-shot":
        out["template"] = result.template
        out["prompt"] = result.prompt
    else:
        out["truncated"] = result.truncated
    return out


def as_json(loaded: LoadedModel, result: Classification) -> dict[str, Any]:
    """:func:`record`, with the token effects (a classifier) and where and how the model ran."""
    out = record(loaded, result)
    if result.effects:
        out["effects"] = {
            "label": result.top.label,
            "tokens": [
                {
                    "position": e.position,
                    "id": e.token_id,
                    "token": e.label,
                    "p_without": e.p_without,
                    "delta": e.delta,
                }
                for e in result.effects
            ],
        }
    out["device"] = loaded.plan.label
    out["dtype"] = loaded.dtype_name
    out["provenance"] = loaded.provenance()
    return out


def show(loaded: LoadedModel, result: Classification) -> None:
    console = output_console()
    how = (
        "classifier, softmax(logits) over id2label"
        if result.method == "classifier"
        else "zero-shot label scoring"
    )
    console.print(Text(f"{safe_line(loaded.source.display_name)}, {loaded.dtype_name} — {how}", style="dim"))
    table = Table(show_edge=False, show_header=False, box=None, padding=(0, 1))
    table.add_column("label")
    table.add_column("p", justify="right")
    table.add_column("bar")
    top = result.top.p or 1.0
    for score in result.labels:
        bar = "█" * max(1, round(BAR_WIDTH * score.p / top)) if score.p > 0 else ""
        winner = score is result.top
        table.add_row(
            Text(safe_line(score.label), style="bold" if winner else ""),
            f"{score.p:.4f}",
            Text(bar, style="green" if winner else "blue"),
        )
    console.print(table)
    console.print(
        Text.assemble("→ ", (safe_line(result.top.label), "bold green"), f" (p = {result.top.p:.4f})")
    )
    if result.method == "zero-shot":
        console.print(
            Text("\nP(label | prompt) = product of p(token | prompt, earlier label tokens):", style="dim")
        )
        for score in result.labels:
            line = Text(f"  {safe_line(score.label)}: ")
            line.append(" × ".join(f"{t.p:.4g}" for t in score.tokens))
            if len(score.tokens) > 1:
                line.append(f" = {sum_product(score):.4g}", style="dim")
            line.append("   ")
            for n, token in enumerate(score.tokens):
                if n:
                    line.append(" ")
                line.append(token.label, style="on #31456a" if n % 2 == 0 else "on #5a3d5c")
            console.print(line)
        console.print(Text(f"prompt: {result.prompt!r}", style="dim"))
    else:
        if result.truncated:
            console.print(Text(f"note: the text was cut to {result.input_tokens} tokens", style="yellow"))
        if result.effects:
            show_effects(console, result)


def show_effects(console: Any, result: Classification) -> None:
    """Each token with the change in the top label's p when it is left out, wrapped between tokens."""
    console.print(
        Text(
            f"\nΔp({safe_line(result.top.label)}) without each token "
            "(negative: the token supports the label):",
            style="dim",
        )
    )
    width = max(20, console.width)
    line, column = Text(no_wrap=True, overflow="ellipsis"), 0
    for effect in result.effects:
        chip = Text(safe_line(effect.label), style="on #31456a")
        chip.append(f" {effect.delta:+.3f}", style="green" if effect.delta < 0 else "red")
        if column and column + chip.cell_len + 2 > width:
            console.print(line)
            line, column = Text(no_wrap=True, overflow="ellipsis"), 0
        elif column:
            line.append("  ")
            column += 2
        line.append_text(chip)
        column += chip.cell_len
    console.print(line)


def sum_product(score: Any) -> float:
    """The label's unnormalised probability: the product of its tokens' p."""
    product = 1.0
    for token in score.tokens:
        product *= token.p
    return product


def _load(settings: LoadSettings, quiet: bool) -> LoadedModel:
    """Load the model for classify, with the loading stage on stderr when it is a terminal."""
    from workbench.engine.classifier_loading import load_for_classify

    if quiet or sys.stderr is None or not sys.stderr.isatty():
        return load_for_classify(settings)
    with output_console(stderr=True).status("Loading model…") as status:

        def report(progress: Any) -> None:
            fraction = progress.fraction
            status.update(f"{progress.stage}{f' {fraction:.0%}' if fraction is not None else ''}")

        return load_for_classify(settings, progress=report)


# --- batch mode: --file ---------------------------------------------------------------------

OUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(slots=True)
class _Line:
    number: int  # 1-based, as an editor shows it
    text: str | None  # None: not UTF-8
    raw: bytes = b""


def read_lines(path: str) -> list[_Line]:
    """Every line of the file: split on \n, \r\n or \r only, each decoded as UTF-8 on its own."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WorkbenchError(f"cannot read --file {path}: {exc.strerror or exc}") from None
    lines = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            text: str | None = (
                raw.decode("utf-8").removeprefix("\ufeff") if number == 1 else raw.decode("utf-8")
            )
        except UnicodeDecodeError:
            text = None
        lines.append(_Line(number, text, raw))
    return lines


def out_format(out: str | None) -> str:
    if out is None:
        return "jsonl"
    suffix = Path(out).suffix.lower()
    if suffix not in OUT_FORMATS:
        raise SettingsError(f"--out must end in .csv or .jsonl (the format is chosen by it), not {out!r}")
    return OUT_FORMATS[suffix]


def open_out(out: str | None) -> IO[str]:
    """The output file, opened (and so checked) before the model loads; stdout without --out."""
    if out is None:
        return sys.stdout
    try:
        return open(out, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by run_file
    except OSError as exc:
        raise WorkbenchError(f"cannot write --out {out}: {exc.strerror or exc}") from None


def run_file(args: argparse.Namespace) -> int:
    """Classify each line of --file with one model load; write CSV or JSON Lines."""
    labels, template = _options(args)
    fmt = out_format(args.out)
    lines = read_lines(args.file)
    todo = [line for line in lines if line.text is None or line.text.strip()]
    blank = len(lines) - len(todo)
    if not todo:
        raise WorkbenchError(f"--file {args.file} has no text to classify ({blank} blank lines)")
    handle = open_out(args.out)
    try:
        config = user_config()
        loaded = _load(load_settings(args, config), quiet=False)
        from workbench.engine.classify import check_options

        check_options(loaded, labels, template)
        written, failed = _classify_lines(loaded, todo, labels, template, fmt, handle)
    finally:
        if handle is not sys.stdout:
            handle.close()
    where = args.out if args.out is not None else "standard output"
    notes = [f"{blank} blank line{'s' * (blank != 1)} skipped"] if blank else []
    if failed:
        notes.append(f"{failed} line{'s' * (failed != 1)} failed, reported above")
    summary = f"classified {written} of {len(lines)} lines of {args.file} into {where}"
    _note(summary + (f" ({', '.join(notes)})" if notes else ""))
    if not written:
        raise WorkbenchError(f"no line of {args.file} could be classified")
    return 0


def _classify_lines(
    loaded: LoadedModel,
    lines: list[_Line],
    labels: tuple[str, ...] | None,
    template: str | None,
    fmt: str,
    handle: IO[str],
) -> tuple[int, int]:
    """Classify and write each line as it is done; a line that fails is reported and skipped."""
    from workbench.engine.classify import classify, label_names

    names = label_names(loaded, labels)
    writer = csv.writer(handle) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(["text", "label", "p", *(f"p_{name}" for name in names), "line"])
    written = failed = 0
    with _progress(len(lines)) as (advance, warn):
        for line in lines:
            try:
                if line.text is None:
                    raise WorkbenchError(f"not UTF-8 text ({line.raw[:40]!r})")
                result = classify(loaded, line.text, labels, template)
            except WorkbenchError as exc:
                failed += 1
                warn(f"line {line.number}: {exc}")
                advance()
                continue
            if writer is not None:
                p = {score.label: score.p for score in result.labels}
                writer.writerow(
                    [result.text, result.top.label, repr(result.top.p)]
                    + [repr(p[name]) if name in p else "" for name in names]
                    + [line.number]
                )
            else:
                entry = dict(record(loaded, result), line=line.number)
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            written += 1
            advance()
    return written, failed


@contextlib.contextmanager
def _progress(total: int) -> Iterator[tuple[Callable[[], None], Callable[[str], None]]]:
    """``(advance, warn)``: a progress bar on stderr when it is a terminal, else nothing but warnings."""
    if sys.stderr is None or not sys.stderr.isatty():
        yield (lambda: None), _note_warning
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = output_console(stderr=True)
    with Progress(
        TextColumn("classifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("lines", total=total)

        def warn(message: str) -> None:
            console.print(Text(f"workbench: warning: {safe_line(message)}"), highlight=False)

        yield (lambda: progress.advance(task)), warn


def _note_warning(message: str) -> None:
    _note(f"warning: {message}")


def _note(message: str) -> None:
    """One line on stderr (when there is one), ``workbench: `` first."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            print(f"workbench: {safe_line(message)}", file=sys.stderr, flush=True)
