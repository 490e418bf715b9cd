"""``workbench classify TEXT``: label probabilities from a classifier, or zero-shot from a causal LM."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from workbench.commands.common import load_settings, output_console, user_config
from workbench.engine.classify import check_template, check_text, parse_labels
from workbench.safetext import safe_line

if TYPE_CHECKING:
    from workbench.engine.classify import Classification
    from workbench.engine.loading import LoadedModel
    from workbench.engine.settings import LoadSettings

BAR_WIDTH = 30


def run(args: argparse.Namespace) -> int:
    text = check_text(args.text)
    # Checked before the slow imports and the model load.
    labels = parse_labels(args.labels) if args.labels is not None else None
    # A typed \n is a newline (a shell does not turn '\n' into one inside quotes).
    raw = args.template.replace("\\n", "\n") if args.template is not None else None
    template = check_template(raw) if raw is not None else None
    config = user_config()
    loaded = _load(load_settings(args, config), quiet=args.json)

    from workbench.engine.classify import classify

    result = classify(loaded, text, labels, template)
    if args.json:
        print(json.dumps(as_json(loaded, result), ensure_ascii=False))
    else:
        show(loaded, result)
    return 0


def as_json(loaded: LoadedModel, result: Classification) -> dict[str, Any]:
    labels: list[dict[str, Any]] = []
    for score in result.labels:
        entry: dict[str, Any] = {"label": score.label, "p": score.p}
        if result.method == "classifier":
            entry["logit"] = score.score
        else:
            entry["logprob"] = score.score
            entry["tokens"] = [{"id": t.token_id, "token": t.label, "p": t.p} for t in score.tokens]
        labels.append(entry)
    record: dict[str, Any] = {
        "model": loaded.source.display_name,
        "method": result.method,
        "text": result.text,
        "labels": labels,
        "winner": result.top.label,
        "input_tokens": result.input_tokens,
        "device": loaded.plan.label,
        "dtype": loaded.dtype_name,
        "provenance": loaded.provenance(),
    }
    if result.method == "zero-shot":
        record["template"] = result.template
        record["prompt"] = result.prompt
    else:
        record["truncated"] = result.truncated
    return record


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
    elif result.truncated:
        console.print(Text(f"note: the text was cut to {result.input_tokens} tokens", style="yellow"))


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
