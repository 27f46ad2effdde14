"""What every `ragrec` command prints with: consoles, the error exit, the progress bar's rate column."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from ragrec.io import printable

console = Console()
err = Console(stderr=True, soft_wrap=True)


def rate(per_second: float) -> str:
    """A rate to read at a glance, small ones too: 12,345 / 42 / 0.26."""
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.2g}"


class RateColumn(ProgressColumn):
    def __init__(self, unit: str = "items"):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:  # rich's speed needs two updates within 30 s: else the average so far
        speed = task.speed or (task.completed / task.elapsed if task.elapsed else 0)
        return Text(f"{rate(speed)} {self.unit}/s", style="cyan")


@contextmanager
def progress_bar(label: str, unit: str) -> Iterator[Callable[[int, int | None], None]]:
    """A job's `on_progress(done, total)`, drawn as a bar on stderr from its first call: jobs make a first call,
    `(0, estimate)`, once past their checks, so a job refused up front prints its error alone, after no empty bar.
    The bar is gone (stopped) when the block ends."""
    progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), RateColumn(unit),
                        TimeElapsedColumn(), console=err)
    task = progress.add_task(label, total=None, start=False)

    def on_progress(done: int, total: int | None) -> None:
        if not progress.live.is_started:
            progress.start()
            progress.start_task(task)  # the rate counts from the job's start, not from its checks
        progress.update(task, completed=done, total=max(total or 0, done) or None)

    try:
        yield on_progress
    finally:
        if progress.live.is_started:  # stopping a bar never started would print an empty line
            progress.stop()


def fail(message: str, code: int = 1) -> None:
    """Print a clear error and exit: 2 for a bad invocation or input, 1 for a failure. The message is shown as
    is: no rich markup, control characters (a binary file's bytes) escaped."""
    err.print(f"[bold red]error:[/] {escape(printable(message))}")
    raise typer.Exit(code)
