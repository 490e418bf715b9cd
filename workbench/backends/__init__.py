"""Backends: the seam the UI and sessions talk to, instead of the engine's Decoder.

- :mod:`workbench.backends.reply_job`: what a backend is asked to do for one reply, and what
  it hands back (pure Python: no torch, no Textual).
- :mod:`workbench.backends.local`: the in-process transformers engine (the default).
- :mod:`workbench.backends.server`: an OpenAI-compatible server (vLLM, llama.cpp, SGLang, TGI,
  Ollama, OpenAI), torch-free.

Arrows: ``ui -> backends -> engine``. Nothing here imports Textual or ``workbench.ui``.
"""
