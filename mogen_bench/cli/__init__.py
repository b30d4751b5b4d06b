"""The ``mogen-bench`` command line: the root group, ``--version``, ``--debug`` and error reporting.

Each command family lives in its own module and imports its heavy dependencies inside the command,
so ``mogen-bench --help`` does not import torch. A ``MogenBenchError`` raised anywhere below becomes
one line on stderr and exit code 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import click

from mogen_bench import __version__
from mogen_bench.errors import MogenBenchError


class UserError(click.ClickException):
    """How a ``MogenBenchError`` leaves the CLI: ``Error: <message>`` on stderr, exit code 1."""

    exit_code = 1


class MogenGroup(click.Group):
    """The root group: turns project errors into one-line messages unless ``--debug`` is given."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MogenBenchError as exc:
            if ctx.params.get("debug"):
                raise
            raise UserError(str(exc)) from exc


@click.group(cls=MogenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mogen-bench")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line error messages.")
def cli(debug: bool) -> None:
    """Dataset toolkit and benchmark suite for fine-grained text-to-motion generation (HuMMan-MoGen)."""


def _register() -> None:
    from mogen_bench.cli.annotation import annotation
    from mogen_bench.cli.convert import convert
    from mogen_bench.cli.data import data
    from mogen_bench.cli.evaluate import evaluate
    from mogen_bench.cli.generate import generate
    from mogen_bench.cli.leaderboard import leaderboard
    from mogen_bench.cli.prepare import prepare
    from mogen_bench.cli.quickstart import quickstart
    from mogen_bench.cli.train import train

    cli.add_command(annotation)
    cli.add_command(prepare)
    cli.add_command(data)
    cli.add_command(train)
    cli.add_command(generate)
    cli.add_command(evaluate)
    cli.add_command(leaderboard)
    cli.add_command(convert)
    cli.add_command(quickstart)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="mogen-bench")
