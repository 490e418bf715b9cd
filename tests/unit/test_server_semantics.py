"""Per-server semantics against replayed responses: what each kind is told to be, where its numbers
go (p when raw, q after sampling, NaN for what it does not give), caps, ids, steps, tokenizers.

The vLLM, SGLang, TGI, Ollama and OpenAI fixtures are constructed from their documented formats
(tests/recordings/README.md); the llama.cpp ones are recorded (test_server_llamacpp.py).
"""

from __future__ import annotations

import math

import pytest

from tests.unit.server_replay import ReplayServer, load
from workbench.backends.server import ServerBackend, ServerError
from workbench.engine.settings import SamplingSettings

GREEDY = SamplingSettings(do_sample=False)
CHAT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.mark.parametrize(
    ("name", "kind", "label", "cap", "requested", "ids"),
    [
        ("vllm/chat", "vllm", "p (server, raw)", 20, 20, True),
        ("sglang/chat", "sglang", "p (server, raw)", None, 30, False),
        ("tgi/chat", "tgi", "q (server, after sampling)", 5, 5, False),
        ("ollama/chat", "ollama", "unknown", 20, 20, False),
        ("openai/chat", "openai", "unknown", 20, 20, False),
        ("unknown/chat", "unknown", "unknown", None, 30, False),
    ],
)
def test_each_server_is_told_apart_and_its_numbers_go_where_its_semantics_say(
    name: str, kind: str, label: str, cap: int | None, requested: int, ids: bool
) -> None:
    with ReplayServer(load(name)) as server:
        backend = ServerBackend.connect(server.url)
        generation = backend.generation(messages=CHAT, settings=GREEDY, top_k=30)
        steps = list(generation)
        sent = server.bodies("/v1/chat/completions")[0]
    semantics = backend.semantics
    assert (semantics.kind, semantics.label, semantics.top_k_cap) == (kind, label, cap)
    assert sent["logprobs"] is True and sent["top_logprobs"] == requested  # capped where the server caps
    assert sent["temperature"] == 0.0 and sent["stream"] is True
    assert generation.text == "The capital is Paris." and generation.finish_reason == "eos"
    paris = steps[3]
    assert paris.text == " Paris" and paris.rank == 1
    assert math.isnan(paris.entropy)  # a server never gives it; it is not invented
    value = math.exp(-0.02)
    if semantics.probability == "post-sampling":
        assert paris.q == pytest.approx(value) and math.isnan(paris.p)
        assert all(math.isnan(c.p) and c.q > 0 for c in paris.candidates)
    else:  # raw, or unknown (kept in p, labelled unknown)
        assert paris.p == pytest.approx(value) and math.isnan(paris.q)
    assert [c.text for c in paris.candidates] == ["␣Paris", "␣paris", "␣Lyon"]
    assert (paris.token_id == 7042) is ids and (paris.candidates[1].token_id == 31320) is ids
    if not ids:
        assert paris.token_id == -1 and all(c.token_id == -1 for c in paris.candidates)


def test_vllm_asks_for_token_ids_and_names_them_through_detokenize() -> None:
    with ReplayServer(load("vllm/chat")) as server:
        backend = ServerBackend.connect(server.url)
        steps = list(backend.generation(messages=CHAT, settings=GREEDY, top_k=5))
        sent = server.bodies("/v1/chat/completions")[0]
        asked = sorted(b["tokens"][0] for b in server.bodies("/detokenize"))
    assert sent["return_tokens_as_token_ids"] is True
    assert [s.token_id for s in steps] == [504, 3575, 314, 7042, 30]
    assert steps[0].candidates[1].token_id == 42192 and steps[0].candidates[1].text == "Paris"
    assert steps[1].label == "␣capital"
    assert len(asked) == len(set(asked))  # each id named once, then cached


def test_step_distribution_goes_as_token_ids_with_one_token() -> None:
    with ReplayServer(load("vllm/chat")) as server:
        backend = ServerBackend.connect(server.url)
        dist = backend.distribution([1, 2, 3], top_k=3)
        sent = server.bodies("/v1/completions")[0]
    assert sent["prompt"] == [1, 2, 3] and sent["max_tokens"] == 1 and sent["logprobs"] == 3
    assert [(c.token_id, c.text) for c in dist.candidates] == [
        (7042, "␣Paris"),
        (31320, "␣paris"),
        (40779, "␣Lyon"),
    ]
    assert dist.candidates[0].p == pytest.approx(math.exp(-0.02)) and math.isnan(dist.candidates[0].q)
    assert dist.sampled is not None and dist.sampled.token_id == 7042
    assert math.isnan(dist.entropy)


def test_sglang_steps_through_its_native_generate_with_ids() -> None:
    with ReplayServer(load("sglang/chat")) as server:
        backend = ServerBackend.connect(server.url)
        dist = backend.distribution([5, 6], top_k=3)
        sent = server.bodies("/generate")[0]
    assert sent["input_ids"] == [5, 6] and sent["top_logprobs_num"] == 3
    assert sent["sampling_params"]["max_new_tokens"] == 1
    assert [c.token_id for c in dist.candidates] == [7042, 31320, 40779]
    assert dist.candidates[2].p == pytest.approx(math.exp(-6.3))


@pytest.mark.parametrize("name", ["tgi/chat", "ollama/chat", "openai/chat"])
def test_text_only_servers_disable_step_and_branch_with_the_reason(name: str) -> None:
    with ReplayServer(load(name)) as server:
        backend = ServerBackend.connect(server.url)
        caps = backend.capabilities
        assert not caps["step"].supported and "text prompts only" in (caps["step"].reason or "")
        assert not caps["branch"].supported
        assert not caps["entropy"].supported
        with pytest.raises(ServerError, match="text prompts only"):
            backend.distribution([1, 2], top_k=3)
        assert server.bodies("/v1/completions") == []  # refused before any request


def test_old_ollama_has_no_chart_and_says_why() -> None:
    with ReplayServer(load("ollama/old")) as server:
        backend = ServerBackend.connect(server.url)
    chart = backend.capabilities["chart"]
    assert not chart.supported and "0.9.6" in (chart.reason or "")


def test_post_sampling_can_be_stated_for_a_vllm_started_with_processed_logprobs() -> None:
    with ReplayServer(load("vllm/chat")) as server:
        backend = ServerBackend.connect(server.url, probability="post-sampling")
        steps = list(backend.generation(messages=CHAT, settings=GREEDY, top_k=3))
    assert backend.semantics.label == "q (server, after sampling)"
    assert steps[3].q == pytest.approx(math.exp(-0.02)) and math.isnan(steps[3].p)


def test_tokenize_uses_the_servers_routes() -> None:
    with ReplayServer(load("tgi/chat")) as server:
        pieces = ServerBackend.connect(server.url).tokenize("The capital")
        assert server.bodies("/tokenize") == [{"inputs": "The capital", "add_special_tokens": False}]
    assert [(p.token_id, p.label) for p in pieces] == [(504, "The"), (3575, "␣capital")]
    with ReplayServer(load("vllm/chat")) as server:
        pieces = ServerBackend.connect(server.url).tokenize("The capital is")
    assert [(p.token_id, p.label) for p in pieces] == [(504, "The"), (3575, "␣capital"), (314, "␣is")]


def test_without_routes_tokenize_says_it_has_neither() -> None:
    with ReplayServer(load("openai/chat")) as server:
        backend = ServerBackend.connect(server.url)
        assert not backend.capabilities["tokenize"].supported
        with pytest.raises(ServerError, match="neither is available"):
            backend.tokenize("hello")


def test_without_routes_a_cached_local_tokenizer_of_the_same_id_is_used(tmp_path) -> None:
    from tests.models import smol_tokenizer

    folder = tmp_path / "smollm2"
    tokenizer = smol_tokenizer()
    tokenizer.save_pretrained(folder)
    exchanges = load("unknown/chat")
    exchanges[0]["json"]["data"][0]["id"] = str(folder)  # servers often name a model by its path
    with ReplayServer(exchanges) as server:
        backend = ServerBackend.connect(server.url)
        pieces = backend.tokenize("The capital")
        assert backend.tokenizer.source == "local" and backend.capabilities["tokenize"].supported
        assert [p.token_id for p in pieces] == tokenizer.encode("The capital", add_special_tokens=False)
        assert backend.detokenize([p.token_id for p in pieces]) == "The capital"
