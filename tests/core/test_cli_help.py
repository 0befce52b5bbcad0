"""Every command's --help reads as plain text: no reStructuredText markup from docstrings."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from brokercare.cli import app

MARKUP = ("``", ":func:", ":class:", ":data:", ":mod:")


def _commands(group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):  # a group (typer ships its own click)
            yield from _commands(command, (*prefix, name))


def test_no_command_help_shows_restructuredtext():
    root = typer.main.get_command(app)
    runner = CliRunner()
    leaks = {}
    paths = [(), *_commands(root)]
    assert len(paths) > 40  # every domain's commands were found
    for path in paths:
        out = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
        if found := [m for m in MARKUP if m in out]:
            leaks[" ".join(path) or "brokercare"] = found
    assert leaks == {}
