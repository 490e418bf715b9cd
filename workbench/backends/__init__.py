"""Backends: what the UI and sessions talk to instead of a ``Decoder``.

``backends.server`` speaks the OpenAI-compatible HTTP APIs of vLLM, SGLang, llama.cpp's
server, TGI, Ollama and OpenAI (stdlib only: no torch, no Textual). The in-process engine
stays in ``workbench.engine``.
"""
