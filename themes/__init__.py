"""The bundled theme files (``*.toml``), installed as the package ``workbench.themes``.

This file only makes the folder a package (see setup.py); workbench/ui/themes.py reads the
files through ``importlib.resources.files("workbench.themes")``.
"""
