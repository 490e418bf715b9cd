"""workbench: a terminal workbench for looking inside language models one token at a time."""

__version__ = "0.1.0"
