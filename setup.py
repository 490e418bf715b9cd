"""Which packages the wheel carries; everything else about the project is in pyproject.toml.

The theme files live in the top-level ``themes/`` folder (where users and contributors look
for them) and are installed as the package ``workbench.themes``, so an installed app finds
them with ``importlib.resources`` wherever it is installed. pyproject.toml alone cannot say
this: its ``packages`` is either a found list or a fixed one, and the found one only sees
folders under ``workbench/``.
"""

from __future__ import annotations

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["workbench", "workbench.*"]), "workbench.themes"],
    package_dir={"workbench.themes": "themes"},
    package_data={
        "workbench.ui": ["*.tcss"],
        "workbench.themes": ["*.toml"],
        "workbench.sessions": ["*.css", "*.js"],  # the HTML export's style and script
    },
)
