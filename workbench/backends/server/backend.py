"""``ServerBackend``: an OpenAI-compatible server behind the interface the UI and sessions use.

    backend = ServerBackend.connect("http://127.0.0.1:8080/v1")
    for step in backend.generation(messages=[{"role": "user", "content": "Hi"}], settings=s):
        ...  # TokenStep records, as the in-process engine yields

``connect`` asks /v1/models (the default model is its first entry) and tells the server's
kind (``semantics``); ``capabilities`` says for each action whether this server can do it,
and why not when it cannot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.backends.server.client import HttpClient, RetryNotice
from workbench.backends.server.errors import ServerError
from workbench.backends.server.generation import ServerGeneration
from workbench.backends.server.requests import chat_body, completion_body
from workbench.backends.server.semantics import Probability, Semantics, detect, with_probability
from workbench.backends.server.stepping import ServerDistribution, distribution
from workbench.backends.server.tokenizing import ServerTokenizer, TokenPiece
from workbench.engine.settings import SamplingSettings
from workbench.engine.steps import TokenStep

ACTIONS = ("chat", "chart", "token_ids", "entropy", "step", "branch", "completion", "tokenize")


@dataclass(frozen=True, slots=True)
class Capability:
    supported: bool
    reason: str | None = None  # why not, when it is not

    def to_dict(self) -> dict[str, Any]:
        return {"supported": self.supported, "reason": self.reason}


class ServerBackend:
    """One model on one server. Build it with :meth:`connect`."""

    def __init__(
        self, client: HttpClient, model: str, models: list[str], semantics: Semantics, post_sampling: bool
    ) -> None:
        self.client = client
        self.model = model
        self.models = models
        self.semantics = semantics
        self.post_sampling = post_sampling
        self.tokenizer = ServerTokenizer(client, semantics, model)

    @classmethod
    def connect(
        cls,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        on_retry: Callable[[RetryNotice], None] | None = None,
        post_sampling: bool = False,
        probability: Probability | None = None,
    ) -> ServerBackend:
        """Attach to the server at ``url``. ``post_sampling`` asks llama.cpp for probabilities after
        its sampler chain; ``probability`` states what a server was started with when its API
        cannot show it (vLLM ``--logprobs-mode processed_logprobs`` -> ``"post-sampling"``)."""
        client = HttpClient(
            url, api_key, timeout=timeout, retries=retries, backoff=backoff, on_retry=on_retry
        )
        answer = client.get_json(client.endpoint.api + "/models")
        data = answer.get("data") if isinstance(answer, dict) else None
        served = [str(m["id"]) for m in data or [] if isinstance(m, dict) and "id" in m]
        if not served:
            raise ServerError(f"{client.endpoint.public}/models lists no models", kind="unknown_model")
        if model is None:
            model = served[0]
        elif model not in served:
            shown = ", ".join(served[:8]) + (" ..." if len(served) > 8 else "")
            raise ServerError(
                f"{client.endpoint.public} does not serve model {model!r}; it serves: {shown}",
                kind="unknown_model",
            )
        semantics = detect(client, answer)
        if post_sampling and semantics.kind == "llamacpp":
            semantics = with_probability(semantics, "post-sampling")
        elif probability is not None:
            semantics = with_probability(semantics, probability)
        return cls(client, model, served, semantics, post_sampling and semantics.kind == "llamacpp")

    def __repr__(self) -> str:
        return f"ServerBackend({self.public_url}, model={self.model!r}, kind={self.semantics.kind})"

    @property
    def public_url(self) -> str:
        """The base URL without credentials: what sessions, exports and --json record."""
        return self.client.endpoint.public

    def describe(self) -> dict[str, Any]:
        """What a session or --json records about this backend (never the key)."""
        return {
            "backend": "server",
            "url": self.public_url,
            "server_model": self.model,
            "semantics": self.semantics.to_dict(),
        }

    @property
    def capabilities(self) -> dict[str, Capability]:
        s = self.semantics
        text_only = f"{s.kind} takes text prompts only: a step cannot continue from exact token ids"
        tokenize_reason = self.tokenizer.reason if s.kind not in ("llamacpp", "vllm", "tgi") else None
        return {
            "chat": Capability(True),
            "chart": Capability(
                s.logprobs, None if s.logprobs else f"{s.kind} {s.version or ''} gives no logprobs".strip()
            ),
            "token_ids": Capability(
                s.gives_ids, None if s.gives_ids else f"{s.kind} sends token text, not ids"
            ),
            "entropy": Capability(False, "a server sends only the top-k, not the whole distribution"),
            "step": Capability(s.token_id_prompts, None if s.token_id_prompts else text_only),
            "branch": Capability(s.token_id_prompts, None if s.token_id_prompts else text_only),
            "completion": Capability(
                s.kind != "openai",
                None if s.kind != "openai" else "OpenAI's chat models have no /v1/completions",
            ),
            "tokenize": Capability(tokenize_reason is None, tokenize_reason),
        }

    # --- the interface ----------------------------------------------------------------

    def generation(
        self,
        *,
        messages: Sequence[Mapping[str, str]] | None = None,
        prompt: str | None = None,
        prefix_ids: Sequence[int] | None = None,
        settings: SamplingSettings | None = None,
        top_k: int = 10,
        cancel: threading.Event | None = None,
        continue_final: bool = False,
        resume_steps: Sequence[TokenStep] = (),
    ) -> ServerGeneration:
        """A streamed reply: to chat ``messages``, or continuing ``prompt`` text, or continuing
        exact ``prefix_ids`` (a branch: vLLM, llama.cpp, SGLang). Iterate it for TokenSteps."""
        settings = settings or SamplingSettings()
        if sum(x is not None for x in (messages, prompt, prefix_ids)) != 1:
            raise ValueError("give exactly one of messages, prompt or prefix_ids")
        api = self.client.endpoint.api
        if messages is not None:
            path = api + "/chat/completions"
            body = chat_body(
                self.semantics, self.model, messages, settings, top_k, self.post_sampling, continue_final
            )
        else:
            if prefix_ids is not None and not self.semantics.token_id_prompts:
                raise ServerError(self.capabilities["branch"].reason or "", kind="unsupported")
            path = api + "/completions"
            source: str | Sequence[int] = prompt if prompt is not None else list(prefix_ids or [])
            body = completion_body(self.semantics, self.model, source, settings, top_k, self.post_sampling)
        greedy = not settings.do_sample or settings.temperature == 0
        return ServerGeneration(
            lambda: self.client.stream(path, body),
            self.semantics,
            greedy,
            cancel,
            labeler=self.tokenizer.labels if self.semantics.kind == "vllm" else None,
            resume_steps=resume_steps,
        )

    def distribution(
        self, prefix_ids: Sequence[int], top_k: int = 10, settings: SamplingSettings | None = None
    ) -> ServerDistribution:
        """The server's top-k after exactly ``prefix_ids`` (one request, ``max_tokens: 1``)."""
        labeler = self.tokenizer.labels if self.semantics.kind == "vllm" else None
        return distribution(
            self.client,
            self.semantics,
            self.model,
            prefix_ids,
            top_k,
            settings or SamplingSettings(do_sample=False),
            self.post_sampling,
            labeler,
        )

    def tokenize(self, text: str, add_special: bool = False) -> list[TokenPiece]:
        return self.tokenizer.tokenize(text, add_special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.detokenize(ids)

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """The chat prompt as the server templates it, as ids: where step mode starts."""
        return self.tokenizer.chat_ids(messages)
