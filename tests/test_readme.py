"""The README stays true: CI runs its test command, and every CLI command has a documented example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

from mogen_bench.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "mogen-bench"):
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci_lines[-1]
    assert "pip install -e" in command and "python -m pytest" in command
    assert f"```bash\n{command}\n```" in README


def test_every_command_has_a_readme_section_and_example():
    commands = list(_commands(cli))
    assert commands
    for command in commands:
        assert re.search(rf"^### `{re.escape(command)}\b", README, re.M), f"no README section for {command}"
        assert re.search(rf"^{re.escape(command)}\b", README, re.M), f"no README example for {command}"


def test_console_script_is_installed_and_help_does_not_import_torch():
    code = "import sys; from mogen_bench.cli import main; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "mogen_bench", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("mogen-bench, version ")
