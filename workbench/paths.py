"""Every on-disk location workbench uses.

platformdirs gives the per-user folders; ``WORKBENCH_HOME`` replaces all of them with
sub-folders of one directory (the tests point it at a tmp dir so nothing touches a real
user's data).
"""

from __future__ import annotations

import os
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import platformdirs

APP_NAME = "workbench"


def _home_override() -> Path | None:
    value = os.environ.get("WORKBENCH_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home_override()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    home = _home_override()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    home = _home_override()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME))


def config_file() -> Path:
    return config_dir() / "config.toml"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def database_file() -> Path:
    return data_dir() / "workbench.db"


def screenshots_dir() -> Path:
    """Where palette -> Screenshot saves: the user's Downloads folder where there is one (as
    Textual does), else a folder in the data dir (a server or container often has no Downloads,
    and Textual's own screenshot then failed)."""
    home = _home_override()
    if home:
        return home / "screenshots"
    downloads = Path(platformdirs.user_downloads_dir())
    return downloads if downloads.is_dir() else data_dir() / "screenshots"


def gguf_cache_dir() -> Path:
    """De-quantised GGUF models saved as safetensors folders (see engine/loading.py)."""
    return cache_dir() / "gguf"


def bundled_themes_dir() -> Traversable:
    """The bundled theme files: the repository's ``themes/`` folder, installed as the package
    ``workbench.themes`` (see setup.py). A folder on disk in every ordinary install (a wheel,
    an editable install), but read it through the ``Traversable`` interface: a zipped install
    has no folder."""
    try:
        return files("workbench.themes")
    except ModuleNotFoundError:
        # A source checkout run without installing it (``python -m workbench`` in the repo
        # with another install's packages): the folder beside the package.
        return Path(__file__).resolve().parent.parent / "themes"
