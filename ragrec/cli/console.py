"""What every `ragrec` command prints with: consoles, the error exit, the progress bar's rate column."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import ProgressColumn
from rich.text import Text

from ragrec.io import printable

console = Console()
err = Console(stderr=True, soft_wrap=True)


class RateColumn(ProgressColumn):
    def __init__(self, unit: str = "items"):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        return Text(f"{task.speed or 0:,.0f} {self.unit}/s", style="cyan")


def fail(message: str, code: int = 1) -> None:
    """Print a clear error and exit: 2 for a bad invocation or input, 1 for a failure. The message is shown as
    is: no rich markup, control characters (a binary file's bytes) escaped."""
    err.print(f"[bold red]error:[/] {escape(printable(message))}")
    raise typer.Exit(code)
