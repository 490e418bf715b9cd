"""Against a real llama-server on the bundled SmolLM2 GGUF: chat, step, branch, tokenizer, and the
issue's must-show check of `workbench generate --server`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from workbench.backends.server import ServerBackend
from workbench.engine.settings import SamplingSettings

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What is the capital of France?"
MESSAGES = [{"role": "user", "content": QUESTION}]
GREEDY = SamplingSettings(do_sample=False)


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as answer:
        return json.loads(answer.read())


def test_generate_cli_matches_the_servers_own_greedy_answer(llama_server: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("WORKBENCH_API_KEY", None)
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "generate",
            "--server",
            llama_server,
            "--chat",
            QUESTION,
            "--greedy",
            "--show-probs",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["backend"] == "server" and data["url"] == llama_server
    assert data["semantics"]["kind"] == "llamacpp" and data["semantics"]["label"] == "p (server, raw)"
    # the server's own answer to the same request (not streamed, fresh prompt evaluation)
    own = _post(
        llama_server + "/chat/completions",
        {
            "model": data["server_model"],
            "messages": MESSAGES,
            "temperature": 0.0,
            "max_tokens": 512,
            "logprobs": True,
            "top_logprobs": 5,
            "cache_prompt": False,
        },
    )
    content = own["choices"][0]["logprobs"]["content"]
    assert data["text"] == own["choices"][0]["message"]["content"]
    assert len(data["tokens"]) == len(content)
    for token, server_token in zip(data["tokens"], content, strict=True):
        assert set(token) >= {"text", "p", "id"} and "q" not in token
        assert token["id"] == server_token["id"]
        assert token["p"] == pytest.approx(math.exp(server_token["logprob"]), abs=1e-4)
    assert "".join(t["text"] for t in data["tokens"]) == data["text"]


def _greedy_reply(backend: ServerBackend) -> Any:
    generation = backend.generation(messages=MESSAGES, settings=GREEDY, top_k=5)
    steps = list(generation)
    assert generation.finish_reason in ("eos", "length") and generation.error is None
    return generation, steps


def test_step_mode_gives_the_chat_replys_distributions_token_by_token(llama_server: str) -> None:
    backend = ServerBackend.connect(llama_server)
    _, steps = _greedy_reply(backend)
    prefix = backend.chat_ids(MESSAGES)
    for n in range(3):  # three steps, each taking the most probable token
        dist = backend.distribution(prefix, top_k=5)
        assert [c.token_id for c in dist.candidates] == [c.token_id for c in steps[n].candidates]
        for ours, chat in zip(dist.candidates, steps[n].candidates, strict=True):
            assert ours.p == pytest.approx(chat.p, abs=1e-4) and math.isnan(ours.q)
        assert dist.candidates[0].token_id == steps[n].token_id
        prefix = prefix + [dist.candidates[0].token_id]


def test_a_branch_continues_from_exact_tokens(llama_server: str) -> None:
    backend = ServerBackend.connect(llama_server)
    reply, steps = _greedy_reply(backend)
    prefix = backend.chat_ids(MESSAGES)
    # the same two tokens again: the rest of the greedy reply follows
    again = backend.generation(prefix_ids=prefix + [s.token_id for s in steps[:2]], settings=GREEDY, top_k=3)
    list(again)
    assert steps[0].text + steps[1].text + again.text == reply.text
    # the runner-up at token 2 instead: another reply, with its own distributions
    runner_up = steps[1].candidates[1]
    branch = backend.generation(
        prefix_ids=prefix + [steps[0].token_id, runner_up.token_id], settings=GREEDY, top_k=3
    )
    branch_steps = list(branch)
    assert branch.error is None and branch_steps and branch.text
    assert steps[0].text + runner_up.text.replace("␣", " ") + branch.text != reply.text


def test_the_servers_tokenizer_matches_the_bundled_tokenizer(llama_server: str) -> None:
    from workbench.engine.loading import load_tokenizer

    backend = ServerBackend.connect(llama_server)
    text = "The capital of France is Paris. 🙂 naïve"
    pieces = backend.tokenize(text)
    assert [p.token_id for p in pieces] == load_tokenizer().encode(text, add_special_tokens=False)
    assert backend.detokenize([p.token_id for p in pieces]) == text
    assert pieces[1].label == "␣capital"


def test_post_sampling_probabilities_are_labelled_q(llama_server: str) -> None:
    backend = ServerBackend.connect(llama_server, post_sampling=True)
    generation = backend.generation(
        messages=MESSAGES, settings=SamplingSettings(seed=7, max_new_tokens=12), top_k=5
    )
    steps = list(generation)
    assert backend.semantics.label == "q (server, after sampling)" and steps
    for step in steps:
        assert math.isnan(step.p) and 0 < step.q <= 1
        assert all(math.isnan(c.p) and 0 < c.q <= 1 for c in step.candidates)
        assert sum(c.q for c in step.candidates) <= 1 + 1e-6
