"""The Diff tab (F12) under Pilot: KL per token equal to torch's kl_div, both top-k lists for the
token under the cursor, where they disagree most, model B released on leaving; refusals."""

from __future__ import annotations

import copy

import pytest
import torch
from rich.console import Console
from textual.widgets import Input, OptionList, Static

from tests.models import save_tiny_folder, smol_tokenizer, tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.ui.app import WorkbenchApp
from workbench.ui.panes.diff import DiffPane, KlStrip, TopLists

TEXT = "The capital of France is Paris [bold]x[/] \x1b]52;c;SGk=\x07 and"


def status_of(app: WorkbenchApp) -> str:
    return str(app.query_one("#diff-status", Static).render())


def shown(widget: TopLists) -> str:
    console = Console(width=60, color_system=None)
    with console.capture() as capture:
        console.print(widget.shown)
    return capture.get()


async def run_diff(pilot, text: str, model: str, dtype: str) -> None:
    app = pilot.app
    pane = app.query_one(DiffPane)
    before = pane.result
    app.query_one("#diff-text").text = text
    app.query_one("#diff-model", Input).value = model
    app.query_one("#diff-dtype", Input).value = dtype
    app.query_one("#diff-text").focus()
    await pilot.press("ctrl+l")
    await wait_until(
        pilot,
        lambda: (
            not pane.busy and (pane.result is not before or "-error" in app.query_one("#diff-status").classes)
        ),
        timeout=60,
        what="diff",
    )


@pytest.fixture
def folders(tmp_path):
    b = tmp_path / "tiny-b"
    tiny_loaded(1).model.save_pretrained(b)
    smol_tokenizer().save_pretrained(b)
    other = save_tiny_folder(tmp_path / "other-vocab")
    tok = copy.deepcopy(smol_tokenizer())
    tok.add_tokens(["<extra>"])
    tok.save_pretrained(other)
    return b, other


async def test_the_tab_shows_kl_top_k_and_where_they_disagree(folders) -> None:
    folder_b, other = folders
    a = tiny_loaded(0)
    app = WorkbenchApp(greedy_config(), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_model(app, pilot, a)
        await pilot.press("f12")
        await wait_until(pilot, lambda: app.tabs.active == "diff", what="diff tab")
        pane = app.query_one(DiffPane)

        await run_diff(pilot, TEXT, str(folder_b), "float32")
        result = pane.result
        assert result is not None, status_of(app)
        ids = smol_tokenizer().encode(TEXT)
        with torch.no_grad():
            log_a = torch.log_softmax(a.model(torch.tensor([ids])).logits[0, :-1], -1)
            log_b = torch.log_softmax(tiny_loaded(1).model(torch.tensor([ids])).logits[0, :-1], -1)
        expected = torch.nn.functional.kl_div(log_b, log_a, log_target=True, reduction="none").sum(-1)
        assert [t.kl for t in result.tokens] == pytest.approx(expected.tolist(), rel=1e-4)
        assert f"mean KL {result.mean_kl:.3g} nats" in status_of(app)
        assert "Checking model B's vocabulary" in pane.stages and "Running both models" in pane.stages

        strip = app.query_one(KlStrip)
        strip_text = str(strip.render())
        assert (
            strip_text.startswith("The\u2423capital") and "\x1b" not in strip_text and "[bold]" in strip_text
        )
        assert app.focused is strip
        top = shown(app.query_one(TopLists))
        first = result.tokens[0]
        assert f"KL {first.kl:.3g}" in top and "A float32" in top and "B float32" in top
        for a_cand, b_cand in zip(first.top_a, first.top_b, strict=True):
            assert f"{a_cand.p:.4f}" in top and f"{b_cand.p:.4f}" in top
        await pilot.press("right", "right")
        assert strip.cursor == 2
        assert f"#{result.tokens[2].position} " in shown(app.query_one(TopLists))

        # "Where they disagree most": its first row is the largest KL; choosing it moves the cursor.
        most = app.query_one("#diff-most", OptionList)
        largest = result.most_different(1)[0]
        assert most.get_option_at_index(1).id == f"t{largest.position - 1}"
        most.highlighted = 1
        await wait_until(pilot, lambda: strip.cursor == largest.position - 1, what="jump to the largest KL")

        # Another vocabulary: refused in the status line; the last result stays.
        await run_diff(pilot, TEXT, str(other), "float32")
        assert "does not share model A's vocabulary" in status_of(app) and pane.result is result
        assert "-error" in app.query_one("#diff-status").classes
        await run_diff(pilot, TEXT, str(folder_b), "float8")
        assert "dtype must be one of" in status_of(app)

        # Another dtype for B: B is loaded again.
        await run_diff(pilot, TEXT, str(folder_b), "bfloat16")
        assert pane.result is not result and pane.holds_model_b
        assert pane.names == ("A float32", "B bfloat16")

        # The chat's last reply (Ctrl+O): its ids after its prompt's, the reply's tokens compared.
        await send(app, pilot, "Hi")
        turn = next(t for t in reversed(list(app.conversation.turns.values())) if t.is_reply)
        await pilot.press("f12")
        await wait_until(pilot, lambda: app.tabs.active == "diff", what="diff tab again")
        before = pane.result
        await pilot.press("ctrl+o")
        await wait_until(
            pilot,
            lambda: (
                not pane.busy
                and (pane.result is not before or "-error" in app.query_one("#diff-status").classes)
            ),
            timeout=60,
            what="reply diff",
        )
        assert pane.result is not before, status_of(app)
        reply_ids = [s.token_id for s in turn.steps]
        assert pane.result is not None and [t.token_id for t in pane.result.tokens] == reply_ids
        assert list(pane.result.ids[-len(reply_ids) :]) == reply_ids

        # Model B is released when the user leaves the tab.
        assert pane.holds_model_b
        await pilot.press("f3")
        await wait_until(pilot, lambda: not pane.holds_model_b, what="model B released")
