"""Plain ``workbench``: the full-screen app. Textual is imported here, torch only later, in a worker."""

from __future__ import annotations

import argparse

from workbench.commands.common import load_settings, user_config


def run(args: argparse.Namespace) -> int:
    from workbench.ui.app import WorkbenchApp

    config = user_config()
    app = WorkbenchApp(config=config, load=load_settings(args, config), resume=getattr(args, "resume", None))
    app.run()
    return int(app.return_code or 0)
