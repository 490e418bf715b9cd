"""`workbench generate --help` states the sampling defaults that are used: SamplingSettings'."""

from __future__ import annotations

import argparse
import re

from workbench.cli import build_parser
from workbench.engine.settings import SamplingSettings


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = sub.choices[command].format_help()
    return re.sub(r"\s+", " ", text[text.index("sampling:") :])  # the options, past the usage line


def _default_of(text: str, flag: str) -> str:
    match = re.search(re.escape(flag) + r" [A-Z_]+ [^(]*\(default: [^)]*?(\S+)\)", text)
    assert match, f"no default stated for {flag}"
    return match.group(1)


def test_generate_help_states_the_defaults_sampling_uses():
    text = _help("generate")
    default = SamplingSettings()
    assert _default_of(text, "--temperature") == f"{default.temperature:g}" == "0.8"
    assert _default_of(text, "--top-k") == str(default.top_k) == "40"
    assert _default_of(text, "--top-p") == f"{default.top_p:g}"
    assert _default_of(text, "--min-p") == f"{default.min_p:g}"
    assert _default_of(text, "--max-new-tokens") == str(default.max_new_tokens)
    assert "default 1.0" not in text and "default 50" not in text
