"""The engine: torch + transformers only, no Textual; usable from a plain script.

    from workbench.engine.sources import resolve_source
    from workbench.engine.loading import load_model
    from workbench.engine.decoding import Decoder, generate
    from workbench.engine.sampling import Sampler
    from workbench.engine.settings import SamplingSettings

Sub-modules are imported explicitly so that importing this package stays cheap: the modules
that need torch import it themselves.
"""
