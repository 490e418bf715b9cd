"""Attaching the app to an OpenAI-compatible server instead of loading a model in-process.

``workbench --server URL [--server-model NAME]``: the connection is made off the UI thread;
once the server answers, replies go to it (workbench/backends/server/replies.py), the chart
says what its numbers are (``p (server, raw)``, ``q (server, after sampling)`` or unknown,
and the cap), and the session records the backend (URL without credentials), the server's
model and those semantics. The API key (WORKBENCH_API_KEY, then OPENAI_API_KEY) is read by
the client and is never shown, saved or logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from workbench.engine.errors import WorkbenchError
from workbench.ui.host import AppHost
from workbench.ui.messages import ServerAttached, ServerAttachFailed, ServerRetrying, ServerTokenizerFound

if TYPE_CHECKING:
    from workbench.backends.server.backend import ServerBackend


class ServerAttachMixin(AppHost):
    server: ServerBackend | None
    server_request: tuple[str, str | None] | None  # (url, model) asked for on the command line

    def attach_server(self, url: str, model: str | None = None) -> None:
        self.server_request = (url, model)
        self.status.show_progress(f"Connecting to {url}…", None)
        self._attach_worker(url, model)

    @work(thread=True, group="server", exit_on_error=False)
    def _attach_worker(self, url: str, model: str | None) -> None:
        from workbench.backends.server.backend import ServerBackend

        def on_retry(notice: Any) -> None:
            self.post_message(ServerRetrying(f"{notice.message}"))

        try:
            backend = ServerBackend.connect(url, model, on_retry=on_retry)
        except WorkbenchError as exc:
            self.post_message(ServerAttachFailed(str(exc)))
        except Exception as exc:  # noqa: BLE001 - any failure is shown, the app stays up
            self.post_message(ServerAttachFailed(f"could not reach {url}: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(ServerAttached(backend))

    def on_server_attached(self, message: ServerAttached) -> None:
        backend: ServerBackend = message.backend
        self.server = backend
        semantics = backend.semantics
        self.status.hide_progress()
        self.status.update_info(
            model=short_name(backend.model),
            device=f"server ({semantics.kind})",
            dtype=semantics.label,
            context_max=None,
            context_used=0,
            activity="",
        )
        self.chart.set_source(f"{semantics.label} · {semantics.cap_label}")
        self._settings_pane.set_server(backend.public_url, backend.model)
        self.sync.update_settings(provenance=backend.describe())
        self._settings_pane.set_load_state(
            f"Attached to {backend.public_url} ({semantics.kind}), model {backend.model}; "
            f"the chart shows {semantics.label}, {semantics.cap_label}"
        )
        self._set_input_placeholder()
        unsupported = [
            f"{name}: {cap.reason}"
            for name, cap in backend.capabilities.items()
            if not cap.supported and name in ("step", "branch", "chart")
        ]
        if unsupported:
            self.notify("\n".join(unsupported), title=f"{semantics.kind}: not available", timeout=15)
        self._inspector_worker(backend)
        if self._waiting_for_model is not None:
            turn, self._waiting_for_model = self._waiting_for_model, None
            self._start_reply(turn)

    @work(thread=True, group="server-tokenizer", exit_on_error=False)
    def _inspector_worker(self, backend: ServerBackend) -> None:
        from workbench.backends.server.inspector_tokenizer import inspector_tokenizer
        from workbench.engine import runner

        try:
            found = runner.run(inspector_tokenizer, backend)  # transformers: on the engine thread
            table = None
            if found.tokenizer is not None:
                from workbench.engine.tokens import TokenTable

                table = runner.run(TokenTable, found.tokenizer)
        except Exception as exc:  # noqa: BLE001 - the inspector says why; replies are unaffected
            self.post_message(ServerTokenizerFound(None, f"no tokenizer for the inspector: {exc}"))
            return
        self.post_message(ServerTokenizerFound(table, f"{found.source}; {found.verdict}"))

    def on_server_tokenizer_found(self, message: ServerTokenizerFound) -> None:
        server = self.server
        name = short_name(server.model) if server is not None else "server"
        if message.table is not None:
            self._tokenizer_pane.set_tokenizer(message.table, f"{name} · {message.about}")
        elif server is not None and server.capabilities["tokenize"].supported:
            from workbench.engine.tokens import TokenSpan

            def split(text: str, special: bool) -> list[TokenSpan]:
                return [
                    TokenSpan(p.token_id, p.label, "text", None, None) for p in server.tokenize(text, special)
                ]

            self._tokenizer_pane.set_server_tokenizer(
                split, f"{name} · the server's /tokenize ({message.about}; the vocabulary needs a local copy)"
            )
        else:
            self.notify(message.about, title="Tokenizer inspector (F3)", severity="warning", timeout=15)

    def detach_server(self) -> None:
        """Back to a model in this process (loaded next by the caller)."""
        self.server = None
        self.server_request = None
        self.chart.set_source(None)
        self._settings_pane.set_server("", "")

    def on_server_attach_failed(self, message: ServerAttachFailed) -> None:
        self.status.hide_progress()
        self.status.update_info(activity="server not attached")
        self._settings_pane.set_load_state(f"Error: {message.error}")
        self.notify(message.error, title="Could not attach to the server", severity="error", timeout=20)

    def on_server_retrying(self, message: ServerRetrying) -> None:
        self.status.update_info(activity=f"server busy: {message.text}")


def short_name(model: str) -> str:
    """A server's model id as the status line shows it: a path or hub id's last part."""
    return model.rstrip("/").rsplit("/", 1)[-1] or model
