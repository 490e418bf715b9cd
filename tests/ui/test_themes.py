"""Theme files: the bundled three load and work with Textual's widgets; broken files are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, DataTable, Footer, Input, Select, Switch, TabbedContent, TabPane

from workbench import paths
from workbench.ui.themes import load_theme_files, register_themes, theme_folders

BUNDLED = {"workbench-dark", "workbench-light", "workbench-high-contrast"}

GOOD = """
name = "{name}"
primary = "{primary}"
"""


def write(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_themes_load_without_problems() -> None:
    themes, problems = load_theme_files([paths.bundled_themes_dir()])
    assert problems == []
    by_name = {theme.name: theme for theme in themes}
    assert set(by_name) == BUNDLED
    assert by_name["workbench-dark"].dark and not by_name["workbench-light"].dark
    high = by_name["workbench-high-contrast"]
    assert (high.background, high.foreground) == ("#000000", "#ffffff")


def test_default_folders_are_bundled_then_the_users() -> None:
    assert theme_folders() == [paths.bundled_themes_dir(), paths.user_themes_dir()]
    assert not paths.user_themes_dir().exists()  # a missing user folder is not a problem
    themes, problems = load_theme_files(theme_folders())
    assert {theme.name for theme in themes} == BUNDLED and problems == []


BROKEN = [
    ("bad-toml.toml", 'name = "x"\nprimary = "#fff\n', "not valid TOML"),
    ("no-primary.toml", 'name = "x"\nbackground = "#000000"\n', "missing 'primary'"),
    ("no-name.toml", 'primary = "#ffffff"\n', "missing 'name'"),
    ("bad-colour.toml", 'name = "x"\nprimary = "#12345"\n', "'primary' is not a colour: '#12345'"),
    ("bad-colour-name.toml", 'name = "x"\nprimary = "red"\nerror = "notacolor"\n', "'error' is not a colour"),
    ("wrong-type.toml", 'name = "x"\nprimary = 5\n', "'primary' must be a colour string"),
    ("wrong-dark.toml", 'name = "x"\nprimary = "red"\ndark = "yes"\n', "'dark' must be true or false"),
    ("bad-name.toml", 'name = "my theme"\nprimary = "red"\n', "'name' must be a word"),
    ("vars-type.toml", 'name = "x"\nprimary = "red"\nvariables = 3\n', "'variables' must be a table"),
    (
        "bad-variable.toml",
        'name = "x"\nprimary = "red"\n[variables]\nfooter-key-foreground = "notacolor"\n',
        "variable 'footer-key-foreground' = 'notacolor' is neither a colour",
    ),
    (
        "css-injection.toml",
        'name = "x"\nprimary = "red"\n[variables]\nborder = "red; } Screen { display: none"\n',
        "variable 'border'",
    ),
    (
        "fraction.toml",
        'name = "x"\nprimary = "red"\ntext_alpha = 3\n',
        "'text_alpha' must be a number between 0",
    ),
    ("not-utf8.toml", "", "could not read it"),
]


@pytest.mark.parametrize(("filename", "text", "reason"), BROKEN)
def test_a_broken_file_is_reported_with_its_name(
    tmp_path: Path, filename: str, text: str, reason: str
) -> None:
    folder = tmp_path / "themes"
    path = write(folder, filename, text)
    if filename == "not-utf8.toml":
        path.write_bytes(b'name = "\xff\xfe"\n')
    write(folder, "fine.toml", GOOD.format(name="fine", primary="#336699"))
    themes, problems = load_theme_files([folder])
    assert [theme.name for theme in themes] == ["fine"]  # the good file next to it still loads
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: ")
    assert reason in problems[0]


def test_unknown_keys_are_reported_but_the_theme_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.toml", 'name = "typo"\nprimary = "red"\nsecondry = "blue"\n')
    themes, problems = load_theme_files([tmp_path])
    assert [theme.name for theme in themes] == ["typo"]
    assert problems == [f"{path}: unknown key(s) secondry ignored"]


def test_optional_fields_are_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        "full.toml",
        'name = "full"\nprimary = "#112233"\nsecondary = "#445566"\nbackground = "#000000"\n'
        'foreground = "#ffffff"\nboost = "#ffffff0a"\ndark = false\nluminosity_spread = 0.2\n'
        '[variables]\ninput-selection-background = "#112233 40%"\nblock-cursor-text-style = "bold reverse"\n',
    )
    (theme,), problems = load_theme_files([tmp_path])
    assert problems == []
    assert (theme.secondary, theme.dark, theme.luminosity_spread) == ("#445566", False, 0.2)
    assert theme.variables["block-cursor-text-style"] == "bold reverse"


def test_a_users_theme_overrides_a_bundled_one_of_the_same_name(tmp_path: Path) -> None:
    user = paths.user_themes_dir()
    write(user, "my-dark.toml", GOOD.format(name="workbench-dark", primary="#ff0000"))
    write(user, "mine.toml", GOOD.format(name="mine", primary="#00ff00"))
    themes, problems = load_theme_files(theme_folders())
    assert problems == []
    by_name = {theme.name: theme for theme in themes}
    assert set(by_name) == BUNDLED | {"mine"}
    assert by_name["workbench-dark"].primary == "#ff0000"


def test_two_files_with_one_name_in_a_folder_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", GOOD.format(name="same", primary="#111111"))
    second = write(tmp_path, "b.toml", GOOD.format(name="same", primary="#222222"))
    themes, problems = load_theme_files([tmp_path])
    assert [theme.primary for theme in themes] == ["#222222"]
    assert len(problems) == 1 and problems[0].startswith(f"{second}: ") and "a.toml" in problems[0]


class Gallery(App[None]):
    """Textual's built-in widgets the workbench uses, to apply each theme to."""

    def compose(self) -> ComposeResult:
        with TabbedContent():
            with TabPane("One"):
                yield Input("text")
                yield Input("bad", classes="-invalid")
                yield Button("Default")
                yield Button("Primary", variant="primary")
                yield Select([("a", "a"), ("b", "b")], allow_blank=False)
                yield Switch(True)
                table: DataTable[str] = DataTable()
                yield table
            with TabPane("Two"):
                yield Input("more")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("rank", "token", "p")
        table.add_rows([("1", "Paris", "0.91"), ("2", "the", "0.03")])


async def test_register_themes_and_apply_each_bundled_one(tmp_path: Path) -> None:
    write(paths.user_themes_dir(), "broken.toml", 'name = "broken"\n')
    app = Gallery()
    async with app.run_test(size=(80, 24)) as pilot:
        problems = register_themes(app)
        assert len(problems) == 1 and "broken.toml" in problems[0] and "missing 'primary'" in problems[0]
        assert set(app.available_themes) >= BUNDLED
        for name in sorted(BUNDLED):
            app.theme = name  # a bad variable would raise a stylesheet error here
            await pilot.pause()
            assert app.current_theme.name == name
            background = app.current_theme.background
            assert background is not None and app.screen.styles.background.hex == background.upper()
        app.query_one(DataTable).focus()
        await pilot.press("down")
        await pilot.pause()
