"""Replayed answers recorded from a real llama-server on the bundled GGUF (tests/recordings/README.md):
the must-show check of `workbench generate --server`, step mode, a branch, the tokenizer routes and
post-sampling probabilities, in CI without the server."""

from __future__ import annotations

import json
import math

import pytest

from tests.unit.server_replay import ReplayServer, load
from workbench.backends.server import ServerBackend
from workbench.engine.settings import SamplingSettings

QUESTION = "What is the capital of France?"
MESSAGES = [{"role": "user", "content": QUESTION}]
GREEDY = SamplingSettings(do_sample=False)


@pytest.fixture
def server():
    with ReplayServer(load("llamacpp/session")) as replay:
        yield replay


def _recorded(server: ReplayServer, path: str, **fields) -> dict:
    """The recorded answer to the request with these fields."""
    for ex in server.exchanges:
        if ex["path"] == path and all(ex.get("request", {}).get(k) == v for k, v in fields.items()):
            return json.loads(ex["body"])
    raise AssertionError(f"no recording of {path} {fields}")


def test_it_is_told_to_be_llamacpp_with_raw_probabilities_and_ids(server: ReplayServer) -> None:
    backend = ServerBackend.connect(server.url)
    semantics = backend.semantics
    assert (semantics.kind, semantics.label, semantics.top_k_cap) == ("llamacpp", "p (server, raw)", None)
    assert semantics.version  # the build id from /props
    caps = backend.capabilities
    assert all(caps[a].supported for a in ("chat", "chart", "token_ids", "step", "branch", "tokenize"))
    assert not caps["entropy"].supported


def test_generate_json_equals_the_servers_own_greedy_answer(server: ReplayServer, capsys) -> None:
    from workbench.cli import main

    code = main(
        ["generate", "--server", server.url, "--chat", QUESTION, "--greedy", "--show-probs", "--json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["finish_reason"] == "eos"
    own = _recorded(server, "/v1/chat/completions", stream=False)["choices"][0]
    assert data["text"] == own["message"]["content"]
    assert len(data["tokens"]) == len(own["logprobs"]["content"])
    for token, theirs in zip(data["tokens"], own["logprobs"]["content"], strict=True):
        assert "text" in token and "q" not in token and token["id"] == theirs["id"]
        assert token["p"] == pytest.approx(math.exp(theirs["logprob"]), abs=1e-4)
        assert [t["id"] for t in token["top"]] == [t["id"] for t in theirs["top_logprobs"]]
    assert "".join(t["text"] for t in data["tokens"]) == data["text"]


def test_step_mode_over_token_ids_gives_the_chat_distributions(server: ReplayServer) -> None:
    backend = ServerBackend.connect(server.url)
    steps = list(backend.generation(messages=MESSAGES, settings=GREEDY, top_k=5))
    prefix = backend.chat_ids(MESSAGES)
    first = backend.distribution(prefix, top_k=5)
    sent = server.bodies("/v1/completions")[0]
    assert sent["prompt"] == prefix and sent["max_tokens"] == 1 and sent["n_probs"] == 5
    assert [c.token_id for c in first.candidates] == [c.token_id for c in steps[0].candidates]
    for ours, chat in zip(first.candidates, steps[0].candidates, strict=True):
        assert ours.p == pytest.approx(chat.p, abs=1e-4) and ours.text == chat.text
    fourth = backend.distribution(prefix + [s.token_id for s in steps[:3]], top_k=5)
    assert fourth.candidates[0].token_id == steps[3].token_id
    assert fourth.candidates[0].p == pytest.approx(steps[3].p, abs=1e-4)


def test_a_branch_from_exact_token_ids_streams_steps_with_ids(server: ReplayServer) -> None:
    backend = ServerBackend.connect(server.url)
    steps = list(backend.generation(messages=MESSAGES, settings=GREEDY, top_k=5))
    prefix = backend.chat_ids(MESSAGES) + [steps[0].token_id, steps[1].candidates[1].token_id]
    branch = backend.generation(prefix_ids=prefix, settings=GREEDY, top_k=5)
    branch_steps = list(branch)
    assert branch.error is None and branch.finish_reason in ("eos", "length")
    assert branch_steps and all(s.token_id >= 0 and s.p > 0 for s in branch_steps)
    assert branch.text == "".join(s.text for s in branch_steps) != ""


def test_tokenize_and_detokenize_through_the_server(server: ReplayServer) -> None:
    backend = ServerBackend.connect(server.url)
    text = "The capital of France is Paris. 🙂"
    pieces = backend.tokenize(text)
    assert pieces[1].label == "␣capital"
    assert "<0x" in "".join(p.label for p in pieces) or "🙂" in "".join(p.label for p in pieces)
    assert backend.detokenize([p.token_id for p in pieces]) == text


def test_post_sampling_probabilities_go_into_q(server: ReplayServer) -> None:
    backend = ServerBackend.connect(server.url, post_sampling=True)
    generation = backend.generation(
        messages=MESSAGES, settings=SamplingSettings(seed=7, max_new_tokens=12), top_k=5
    )
    steps = list(generation)
    assert server.bodies("/v1/chat/completions")[-1]["post_sampling_probs"] is True
    assert backend.semantics.label == "q (server, after sampling)" and steps
    for step in steps:
        assert math.isnan(step.p) and 0 < step.q <= 1 and math.isnan(step.entropy)
        assert all(math.isnan(c.p) and 0 < c.q <= 1 for c in step.candidates)
