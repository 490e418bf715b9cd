"""The real app, headless, chatting by itself: for the kill -9 tests.

Run as: python tests/e2e/app_writer.py MODEL_FOLDER. Every reply that has been saved (the
app's own finish path has committed it) is printed as one JSON line.
"""

from __future__ import annotations

import json
import sys

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
        super().on_generation_ended(message)
        turn = self.conversation.turns[message.turn_id]
        print(json.dumps({"id": turn.id, "content": turn.content, "tokens": len(turn.steps)}), flush=True)
        self.call_later(self._next)


if __name__ == "__main__":
    config = Config(
        LoadSettings(model=sys.argv[1], device="cpu", dtype="float32"),
        SamplingSettings(seed=None, max_new_tokens=24),
        UiSettings(),
    )
    SelfChattingApp(config, save_settings=False).run(headless=True)
