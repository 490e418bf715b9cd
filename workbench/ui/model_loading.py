"""Loading a model, replacing the one in use, and releasing it: a mixin of the app.

The load runs on the engine thread (engine/runner.py) behind a thread worker that only waits;
its result comes back as a message carrying the settings asked for, so a load superseded by a
newer request is released and ignored. A model in use is released on the engine thread, after
any job still using it. Only a model that loaded becomes the config's and the session's.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from textual import work

from workbench.engine import gcpolicy
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import LoadSettings
from workbench.ui.host import AppHost
from workbench.ui.messages import LoadProgressed, ModelLoaded, ModelLoadFailed

if TYPE_CHECKING:
    from workbench.engine.loading import LoadedModel


def scale_up_state(loaded: LoadedModel) -> str:
    """The Load line's tail for quantized weights and compiled decoding ("" for neither)."""
    parts = []
    if loaded.quantization:
        parts.append(f"{loaded.quantization} weights")
    static = loaded.static
    if static is not None and static.first_compile_seconds is not None:
        parts.append(f"decoding step compiled in {static.first_compile_seconds:.1f} s")
    elif static is not None:
        parts.append(static.description)
    return "".join(f"; {part}" for part in parts)


class ModelLoadingMixin(AppHost):
    def load_model(self, settings: LoadSettings) -> None:
        """Load ``settings``; a running reply is stopped first. The engine thread runs jobs in
        order, so the load starts once that reply's work is done; until the new model is
        ready, messages wait for it (the old one is released on the engine thread after)."""
        if self.reply is not None:
            self.reply.stop()
        self._loading = settings
        self.status.show_progress("Loading model…", None)
        self._settings_pane.set_load_state(f"Loading {settings.model}…")
        self._load_worker(settings)

    @work(thread=True, group="model", exit_on_error=False)  # not exclusive: every load reports back
    def _load_worker(self, settings: LoadSettings) -> None:
        try:
            from workbench.engine import runner
            from workbench.engine.loading import load_model  # torch is imported here, off the UI thread

            progress = lambda p: self.post_message(LoadProgressed(p.stage, p.fraction))  # noqa: E731
            loaded = runner.run(load_model, settings, progress=progress)  # on the one torch thread
        except WorkbenchError as exc:
            self.post_message(ModelLoadFailed(str(exc), settings))
        except Exception as exc:  # noqa: BLE001 - any failure is shown, the app stays up
            self.post_message(
                ModelLoadFailed(f"could not load {settings.model}: {type(exc).__name__}: {exc}", settings)
            )
        else:
            self.post_message(ModelLoaded(loaded, settings))

    def on_load_progressed(self, message: LoadProgressed) -> None:
        self.status.show_progress(message.stage, message.fraction)
        percent = f" {message.fraction:.0%}" if message.fraction is not None else ""
        self._settings_pane.set_load_state(f"{message.stage}{percent}")

    def _superseded(self, request: LoadSettings | None) -> bool:
        """A load asked for before the latest one (the user changed the model again)."""
        return request is not None and self._loading is not None and request is not self._loading

    def on_model_loaded(self, message: ModelLoaded) -> None:
        from workbench.engine import runner

        if self._ending or self._superseded(message.request):
            runner.submit(self._release_on_engine, message.loaded)  # nobody will use it
            return
        old, self.loaded = self.loaded, message.loaded
        settings = message.request or self._loading or self.load_settings
        self._loading = None
        if old is not None and old is not self.loaded:
            runner.submit(self._release_on_engine, old)  # after any job still using it
        runner.submit(gcpolicy.freeze_long_lived)  # full GC passes skip the model from now on
        # Only a model that loaded becomes the default and the session's model.
        self.load_settings = self._loaded_settings = settings
        loaded = self.loaded
        self.sync.update_settings(load=settings, model=settings.model, provenance=loaded.provenance())
        self._save_config()
        self.status.hide_progress()
        self.status.update_info(
            model=loaded.source.short_name,
            device=loaded.plan.label,
            dtype=loaded.precision_label,  # "4-bit bnb" for quantized weights; "· compiled"
            context_max=loaded.context_length,
            context_used=0,
            activity="",
        )
        seconds = f"{loaded.load_seconds:.1f} s" + (", cached" if loaded.from_cache else "")
        self._settings_pane.set_load_state(
            f"Loaded {loaded.source.display_name} on {loaded.plan.label} in {seconds}; {loaded.dtype_reason}"
            + scale_up_state(loaded)
        )
        if loaded.compile_note:
            self.notify(loaded.compile_note, title="Compiled decoding", severity="warning", timeout=15)
        self._set_input_placeholder()
        self._tokenizer_pane.set_tokenizer(loaded.table, loaded.source.display_name)
        self._update_prompt_view()
        self._refresh_memory()
        if self._waiting_for_model is not None:
            turn, self._waiting_for_model = self._waiting_for_model, None
            self._start_reply(turn)

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        if self._superseded(message.request):
            return  # a newer load is on its way; this one's failure no longer matters
        self._loading = None
        if self._loaded_settings is not None:
            self.load_settings = self._loaded_settings  # the model still running stays the default
        self.status.hide_progress()
        keeps = f"; still using {self.loaded.source.short_name}" if self.loaded is not None else ""
        self.status.update_info(activity="model not loaded" if self.loaded is None else "")
        self._settings_pane.set_load_state(f"Error: {message.error}{keeps}")
        self.notify(message.error + keeps, title="Could not load the model", severity="error", timeout=20)
        if self._waiting_for_model is not None:
            self._waiting_for_model = None
            self.notify("Your message is kept; press Ctrl+R to answer it once a model is loaded.")

    def _refresh_memory(self) -> None:
        if self.loaded is None:
            return
        from workbench.engine.devices import memory_in_use

        self.status.update_info(memory=memory_in_use(self.loaded.plan))

    def _release_model(self, timeout: float) -> None:
        loaded, self.loaded = self.loaded, None
        if loaded is None:
            return
        from workbench.engine import runner

        with contextlib.suppress(Exception):
            runner.submit(self._release_on_engine, loaded).result(timeout)

    def _release_on_engine(self, loaded: LoadedModel) -> None:
        """Engine thread: forget the cached decoder of ``loaded`` and drop its weights."""
        self.decoders.drop(loaded)
        gcpolicy.thaw()  # its objects must be collectable to be freed
        loaded.release()
        gcpolicy.freeze_long_lived()
