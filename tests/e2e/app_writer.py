"""The real app, headless, chatting by itself: for the kill -9 tests.

Run as: python tests/e2e/app_writer.py MODEL_FOLDER. Every reply that has been saved (the
app's own finish path has queued it and the session writer thread has committed it) is
printed as one JSON line with its stored id.

Errors are written to stderr the moment they happen, so the test can see them even though
the process is killed: an unhandled exception (Textual would only print it at exit) and a
failed session write (the app shows it as a toast).
"""

from __future__ import annotations

import json
import sys
import traceback

from workbench.config import Config, UiSettings
from workbench.engine.settings import LoadSettings, SamplingSettings
from workbench.ui.app import WorkbenchApp


class SelfChattingApp(WorkbenchApp):
    count = 0

    def on_model_loaded(self, message) -> None:  # type: ignore[no-untyped-def]
        super().on_model_loaded(message)
        print(json.dumps({"ready": True}), flush=True)
        self.call_later(self._next)

    def _next(self) -> None:
        self.count += 1
        if self.count % 3 == 0:
            self.action_new_chat()  # new sessions too, not only new messages
        self.send(f"message {self.count} from {id(self)}")

    def on_generation_ended(self, message) -> None:  # type: ignore[no-untyped-def]
        turn = self.reply.turn if self.reply is not None else None
        super().on_generation_ended(message)
        if turn is not None and self.sync.flush():  # committed by the writer thread
            stored = self.sync.stored_id(turn.id)
            print(json.dumps({"id": stored, "content": turn.content, "tokens": len(turn.steps)}), flush=True)
        self.call_later(self._next)

    def on_session_write_failed(self, message) -> None:  # type: ignore[no-untyped-def]
        print(f"session write failed: {message.error}", file=sys.stderr, flush=True)
        super().on_session_write_failed(message)

    def _handle_exception(self, error: Exception) -> None:
        traceback.print_exception(error, file=sys.stderr)
        sys.stderr.flush()
        super()._handle_exception(error)


if __name__ == "__main__":
    config = Config(
        LoadSettings(model=sys.argv[1], device="cpu", dtype="float32"),
        SamplingSettings(seed=None, max_new_tokens=24),
        UiSettings(),
    )
    SelfChattingApp(config, save_settings=False).run(headless=True)
