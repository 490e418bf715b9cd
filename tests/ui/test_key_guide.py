"""F1 is a short guide: p and q, step mode, branches, the heat map, then each place's keys by
the names printed on the keyboard; every key the app binds with a description is in it."""

from __future__ import annotations

import re

from textual.binding import Binding

from workbench.ui.app import WorkbenchApp
from workbench.ui.keys import key_name
from workbench.ui.panes.chat import ChatInput
from workbench.ui.panes.classify import ClassifyPane
from workbench.ui.panes.fill import FillPane
from workbench.ui.panes.tokenizer import TokenizerPane
from workbench.ui.screens.help import guide_text
from workbench.ui.screens.sessions import SessionList
from workbench.ui.widgets.chart import CandidatesChart
from workbench.ui.widgets.conversation import ConversationView


def test_the_guide_explains_p_q_step_mode_branches_and_the_heat_map():
    text = guide_text(76)
    assert "p is the model's probability" in text and "q is the sampling probability" in text
    for title in ("Step mode (F7)", "Branches", "Heat map (F6)"):
        assert title in text
    # the step keys, under their own heading, with human names
    step = text[text.index("Chart in step mode") :]
    for key in ("Space", "g", "1-9", "t", "p", "+ -"):
        assert re.search(rf"^\s*{re.escape(key)}\s{{2,}}\S", step, re.M), key
    assert re.search(r"^\s*\[ \]\s+previous, next branch", text, re.M)
    assert "Left_square" not in text and "square_bracket" not in text
    assert "Scroll" not in text and "scroll" not in text.replace("scrolls", "")


def test_every_described_binding_is_named_in_the_guide():
    text = guide_text(100)
    named = set(re.findall(r"\S+", text))
    owners = [
        WorkbenchApp,
        ConversationView,
        CandidatesChart,
        ChatInput,
        TokenizerPane,
        ClassifyPane,
        FillPane,
        SessionList,
    ]
    for owner in owners:
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            if owner is ChatInput and binding.action.startswith("app."):
                continue  # the app's own keys, kept in the box (listed under Everywhere)
            names = [key_name(key) for key in binding.key.split(",")]
            # "1".."9" are written 1-9; a key may be one of a group ("[ ]", "F2 F3 F4")
            found = [n for n in names if n in named or (n.isdigit() and "1-9" in named)]
            assert found, (owner.__name__, binding.key, binding.description)
