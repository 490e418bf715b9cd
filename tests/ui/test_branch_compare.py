"""Comparing branches in the app: the fork marked, [ / ] keeping the cursor at the fork, the
comparison screen, and a search hit that opens another branch. Branches are made as a user
makes them: a reply, then a candidate picked with 1-9 on one of its tokens."""

from __future__ import annotations

import re

from tests.models import tiny_loaded
from tests.ui.helpers import greedy_config, send, start_with_model, wait_until
from workbench.branches import fork_index
from workbench.ui.app import WorkbenchApp
from workbench.ui.widgets.token_render import format_probability

FORK = 3  # the branch picks another candidate at token 4


async def make_branch(app, pilot, text: str = "Branch me", rank: int = 4):
    """A reply, then a sibling continued from token FORK+1 with candidate ``rank``."""
    await start_with_model(app, pilot, tiny_loaded())
    await send(app, pilot, text)
    original = app.conversation.last("assistant")
    app.conversation_view.focus()
    await pilot.press("home", *["right"] * FORK, str(rank))
    await wait_until(pilot, lambda: not app.generating and app.conversation.last("assistant") is not original)
    branch = app.conversation.last("assistant")
    assert fork_index(original.steps, branch.steps) == FORK
    return original, branch


def underlined(view, index: int) -> bool:
    """Whether the token ``index`` of a reply's rendered body is underlined."""
    text = view._body_text()
    start = sum(len(s.text) for s in view.turn.steps[:index])
    return any(s.start <= start < s.end and s.style.underline for s in text.spans)


async def test_the_fork_token_is_marked_and_the_chart_names_the_other_branch():
    app = WorkbenchApp(greedy_config(max_new_tokens=10), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        original, branch = await make_branch(app, pilot)
        view = app.conversation_view.view_for(branch.id)
        assert view.forks == {FORK: [1]}
        assert "fork at token 4" in view.header().plain
        app.conversation_view.focus()
        last = len(branch.steps) - 1
        assert last > FORK + 1
        app.conversation_view.select_turn(branch.id, last)  # the cursor elsewhere (it is underlined too)
        await pilot.pause()
        assert underlined(view, FORK) and not underlined(view, FORK + 1)
        assert "fork" not in app.chart._caption
        app.conversation_view.select_turn(branch.id, FORK + 1)
        await pilot.press("left")
        assert app.conversation_view.selected[1].index == FORK
        assert app.chart._caption == f"Token {FORK + 1}/{len(branch.steps)} of the reply · fork: branch 1/2"
        assert "fork: branch 1/2" in app.chart.rendered_text().plain


async def test_switching_branches_keeps_the_cursor_and_the_chart_at_the_fork():
    app = WorkbenchApp(greedy_config(max_new_tokens=10), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        original, branch = await make_branch(app, pilot)
        app.conversation_view.focus()
        await pilot.press("end")  # the cursor on the branch's last token, far from the fork
        assert app.conversation_view.selected[1].index == len(branch.steps) - 1 != FORK
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: app.conversation.leaf == original.id, what="original branch")
        turn, step = app.conversation_view.selected
        assert turn is original and step.index == FORK
        assert app.chart.step is original.steps[FORK]
        assert app.conversation_view.view_for(original.id).forks == {FORK: [2]}
        assert "fork: branch 2/2" in app.chart._caption
        # with the message box focused, the chart still goes to the fork
        app.chat_input.focus()
        await pilot.pause()
        app.action_sibling(1)
        await wait_until(pilot, lambda: app.conversation.leaf == branch.id, what="the branch again")
        assert app.chart.step is branch.steps[FORK]


async def test_the_comparison_shows_both_continuations_and_the_fork_candidates():
    app = WorkbenchApp(greedy_config(max_new_tokens=10), autoload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        original, branch = await make_branch(app, pilot)
        assert app.sync.flush()
        from workbench.ui.screens.compare import CompareScreen, format_q

        app.conversation_view.focus()
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), what="comparison")
        screen = app.screen
        await pilot.pause()
        assert screen.has_class("-stacked")
        left_text = str(screen.query_one("#cmp-left-text").render())
        right_text = str(screen.query_one("#cmp-right-text").render())
        # the numbers are the stored steps' numbers
        stored = {
            turn.id: app.sync.store.token_steps(app.sync.stored_id(turn.id)) for turn in (original, branch)
        }
        left, right = stored[branch.id], stored[original.id]  # the shown branch is on the left
        for text, steps in ((left_text, left), (right_text, right)):
            step = steps[FORK]
            assert f"took #{step.rank} " in text
            assert f"p {format_probability(step.p).strip()}" in text
            assert f"q {format_q(step.q).strip()}" in text
            assert "".join(s.text for s in steps[FORK:]).strip() in text.replace("\n", "\n")
        shared = "".join(s.text for s in left[:FORK])
        assert shared[-20:] in str(screen.query_one("#cmp-prefix").render())
        fork_lines = str(screen.query_one("#cmp-fork").render()).splitlines()
        for rank, candidate in enumerate(left[FORK].candidates[:5], start=1):
            line = next(line for line in fork_lines if re.match(rf"^(Token {FORK + 1}:)?\s+{rank}  ", line))
            assert format_probability(candidate.p) in line and format_q(candidate.q) in line
        # which candidate each branch took
        took = {line.split("◀")[1].strip() for line in fork_lines if "◀" in line}
        assert took == {"‹1/2›", "‹2/2›"}
        [branch_line] = [line for line in fork_lines if "◀ ‹2/2›" in line]
        assert f"  4  {left[FORK].label}" in branch_line  # candidate 4, picked with the 4 key
        assert format_probability(left[FORK].p) in branch_line
        # ] has no third branch to show: the same sibling; s swaps; Escape closes
        await pilot.press("s")
        assert screen.comparison.left is original and screen.comparison.right is branch
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CompareScreen), what="closed")
        assert app.conversation.leaf == branch.id


async def test_the_comparison_side_by_side_from_100_columns_and_enter_shows_the_right_branch():
    app = WorkbenchApp(greedy_config(max_new_tokens=10), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        original, branch = await make_branch(app, pilot)
        from workbench.ui.screens.compare import CompareScreen

        app.action_compare_branches()  # as the palette's "Compare branches" does
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), what="comparison")
        await pilot.pause()
        left, right = app.screen.query_one("#cmp-left"), app.screen.query_one("#cmp-right")
        assert left.region.y == right.region.y and left.region.x < right.region.x
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.conversation.leaf == original.id, what="the right branch shown")
        assert app.conversation_view.selected[1].index == FORK
        # a third branch, from the original's token FORK + 3: ] and [ cycle the right side
        await pilot.press(*["right"] * 3, "2")
        await wait_until(
            pilot, lambda: not app.generating and app.conversation.last("assistant") is not original
        )
        third = app.conversation.last("assistant")
        assert app.conversation_view.view_for(third.id).forks == {FORK: [2], FORK + 3: [1]}
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), what="comparison")
        screen = app.screen
        assert (screen.comparison.left, screen.comparison.right) == (third, branch)
        await pilot.press("right_square_bracket")
        assert screen.comparison.right is original and screen.comparison.fork == FORK + 3
        assert "they part at token 7" in str(screen.query_one("#cmp-title").render())
        await pilot.press("right_square_bracket")
        assert screen.comparison.right is branch and screen.comparison.fork == FORK


async def test_a_search_hit_in_another_branch_opens_that_branch_at_the_match():
    app = WorkbenchApp(greedy_config(max_new_tokens=20), autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        original, branch = await make_branch(app, pilot, "Search my branches")
        # a word only the branch has, as the full-text search splits words
        others = (original.content + " Search my branches").lower()
        words = [w for w in re.findall(r"\w+", branch.content) if len(w) >= 3 and w.lower() not in others]
        assert words, f"no word only the branch has in {branch.content!r}"
        word = words[0]
        await pilot.press("left_square_bracket")  # the original is the saved branch
        await wait_until(pilot, lambda: app.conversation.leaf == original.id)
        session = app.sync.session_id
        branch_id = app.sync.stored_id(branch.id)
        await pilot.press("ctrl+n")
        await pilot.press("f5")
        from workbench.ui.screens.sessions import SessionsScreen

        await wait_until(pilot, lambda: isinstance(app.screen, SessionsScreen))
        app.screen.query_one("#sessions-search").value = word
        await wait_until(pilot, lambda: "1 of 1" in str(app.screen.query_one("#sessions-count").render()))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.sync.session_id == session, what="session opened")
        await wait_until(pilot, lambda: app.conversation.leaf == branch_id, what="the branch with the hit")
        await wait_until(pilot, lambda: app.conversation_view.selected[1] is not None, what="cursor")
        turn, step = app.conversation_view.selected
        assert turn.id == branch_id
        start = sum(len(s.text) for s in turn.steps[: step.index])
        at = turn.content.lower().find(word.lower())
        assert start <= at < start + max(1, len(step.text)), (start, at, step)


def test_a_branch_token_outside_the_recorded_candidates_gets_its_own_row():
    """A token typed with t (not among the top-k) is listed from its own step: rank, p, q."""
    from tests.unit.test_branches import steps
    from workbench.branches import compare
    from workbench.conversation import Conversation
    from workbench.engine.steps import Candidate, TokenStep
    from workbench.ui.screens.compare import fork_rows

    conversation = Conversation()
    user = conversation.add("user", "hi")
    shared = steps([1, 2])
    candidates = tuple(Candidate(10 + i, f"c{i}", 0.5 / (i + 1), 0.4 / (i + 1)) for i in range(8))
    took = TokenStep(2, 10, "c0", "c0", candidates[0].p, candidates[0].q, 1, 1.0, candidates, "sample")
    typed = TokenStep(2, 999, "typed", "typed", 1e-5, 0.0, 4321, 1.0, candidates, "user")
    a = conversation.add("assistant", "", parent=user.id, steps=[*shared, took])
    b = conversation.add("assistant", "", parent=user.id, steps=[*shared, typed])
    rows = fork_rows(compare(a, b), limit=3)
    assert [row[0] for row in rows] == ["1", "2", "3", "4321"]
    assert rows[0][2:] == (format_probability(candidates[0].p), format_probability(candidates[0].q), [a])
    assert rows[-1][1:] == ("typed", "<0.01%", "✗ cut".rjust(6), [b])
