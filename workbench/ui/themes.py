"""Theme files (TOML) -> Textual ``Theme`` objects, the way darrenburns/posting does it.

Each ``*.toml`` file in a themes folder describes one theme::

    name = "workbench-dark"        # required; letters, digits, '-' and '_'
    primary = "#5fa8f5"            # required
    secondary = "#9a8cf2"          # optional colours: secondary, warning, error, success, accent,
    background = "#14161b"         #   foreground, background, surface, panel, boost
    dark = true                    # optional
    [variables]                    # optional overrides of Textual's design variables
    footer-key-foreground = "#5fa8f5"

Folders are read in order (bundled first, then the user's), so a user's theme with the same
name replaces a bundled one. A broken file never stops the app: it is skipped and reported as
one ``"file: reason"`` line, and the app shows all of them in one notification.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from importlib.resources.abc import Traversable
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.css.parse import parse_declarations
from textual.theme import Theme

from workbench import paths

COLOUR_KEYS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
FRACTION_KEYS = ("luminosity_spread", "text_alpha")
KNOWN_KEYS = frozenset(("name", "dark", "variables", *COLOUR_KEYS, *FRACTION_KEYS))

# The name becomes the CSS class "-theme-<name>" on the app, so keep it an identifier.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
VARIABLE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
# Variables are pasted into Textual's stylesheet: a ';', '{' or '$' could smuggle in CSS.
VARIABLE_VALUE_PATTERN = re.compile(r"^[A-Za-z0-9_#%.,() -]+$")


def theme_folders() -> list[Traversable]:
    """Where themes come from, in override order: shipped with the app, then the user's."""
    return [paths.bundled_themes_dir(), paths.user_themes_dir()]


def load_theme_files(folders: Iterable[Traversable]) -> tuple[list[Theme], list[str]]:
    """Every valid theme in ``folders`` (later folders override earlier ones by name), and the problems.

    A folder is a ``Path`` or any ``importlib.resources`` ``Traversable`` (the bundled themes
    are package data). Missing folders are skipped quietly: the user's themes folder usually
    does not exist.
    """
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        seen_here: dict[str, Traversable] = {}
        toml_files = (entry for entry in folder.iterdir() if entry.name.endswith(".toml") and entry.is_file())
        for path in sorted(toml_files, key=lambda entry: entry.name):
            theme, file_problems = load_theme_file(path)
            problems.extend(file_problems)
            if theme is None:
                continue
            if theme.name in seen_here:
                problems.append(
                    f"{path}: theme name {theme.name!r} is also used by {seen_here[theme.name].name}; "
                    f"using {path.name}"
                )
            seen_here[theme.name] = path
            themes[theme.name] = theme
    return list(themes.values()), problems


def load_theme_file(path: Traversable) -> tuple[Theme | None, list[str]]:
    """One theme file: the theme (None if unusable) and ``"file: reason"`` problems."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: could not read it ({exc})"]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path}: not valid TOML ({exc})"]
    try:
        theme = theme_from_dict(data)
    except ValueError as exc:
        return None, [f"{path}: {exc}"]
    # Unknown keys are most likely typos ("secondry"): load the theme, but say so.
    unknown = sorted(set(data) - KNOWN_KEYS)
    problems = [f"{path}: unknown key(s) {', '.join(unknown)} ignored"] if unknown else []
    return theme, problems


def theme_from_dict(data: dict[str, Any]) -> Theme:
    """Validate a theme table into a ``Theme``; raise ``ValueError`` saying what to fix."""
    name = data.get("name")
    if name is None:
        raise ValueError("missing 'name' (the theme's name, e.g. name = \"my-theme\")")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"'name' must be a word of letters, digits, '-' and '_', not {name!r}")
    if "primary" not in data:
        raise ValueError("missing 'primary' (the main colour, e.g. primary = \"#5fa8f5\")")
    colours = {key: _colour(key, data[key]) for key in COLOUR_KEYS if key in data}
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError(f"'dark' must be true or false, not {dark!r}")
    fractions = {key: _fraction(key, data[key]) for key in FRACTION_KEYS if key in data}
    variables = _variables(data.get("variables", {}))
    options: dict[str, Any] = {**colours, **fractions}  # only the keys listed above
    theme = Theme(name=name, dark=dark, variables=variables, **options)
    try:
        # The same call Textual makes when the theme is applied: fail here, not mid-run.
        theme.to_color_system().generate()
    except Exception as exc:  # any failure means the theme is unusable
        raise ValueError(f"Textual cannot use this theme ({exc})") from None
    return theme


def register_themes(app: App[Any], folders: Iterable[Traversable] | None = None) -> list[str]:
    """Register every valid theme on ``app``; return the problems for one notification.

    Call before setting ``app.theme`` to one of them (registering does not re-apply the
    current theme's CSS).
    """
    themes, problems = load_theme_files(theme_folders() if folders is None else folders)
    for theme in themes:
        app.register_theme(theme)
    return problems


def _colour(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f'{key!r} must be a colour string such as "#5fa8f5", not {value!r}')
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(
            f'{key!r} is not a colour: {value!r} (use "#rrggbb", "rgb(r,g,b)" or a name such as "red")'
        ) from None
    return value


def _fraction(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{key!r} must be a number between 0 and 1, not {value!r}")
    return float(value)


def _variables(table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ValueError(f"'variables' must be a table of name = \"value\" pairs, not {table!r}")
    variables: dict[str, str] = {}
    for key, value in table.items():
        if not VARIABLE_NAME_PATTERN.match(key):
            raise ValueError(f"variable name {key!r} must be lower-case letters, digits and '-'")
        if not isinstance(value, str):
            raise ValueError(f"variable {key!r} must be a string, not {value!r}")
        if not (VARIABLE_VALUE_PATTERN.match(value) and _is_css_value(value)):
            raise ValueError(
                f'variable {key!r} = {value!r} is neither a colour ("#rrggbb", "#rrggbb 40%") '
                'nor a text style ("bold", "reverse", "none")'
            )
        variables[key] = value
    return variables


def _is_css_value(value: str) -> bool:
    """True if Textual's CSS parser accepts ``value`` as a colour or a text style.

    A bad variable is only noticed when a stylesheet uses it, and then the whole app stops
    with a CSS error; checking here keeps one bad line in one theme file harmless.
    """
    for prop in ("color", "text-style"):
        try:
            parse_declarations(f"{prop}: {value};", ("theme", ""))
        except Exception:  # the parser raises several kinds of error
            continue
        return True
    return False
