"""The `ragrec` Typer app, its global options, and what every command group shares."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from ragrec.cli.errors import RagrecGroup
from ragrec.config import Settings

# RagrecGroup turns whatever escapes a command into a one-line error (ragrec/cli/errors.py)
app = typer.Typer(help="ragrec: a retrieval-augmented recommender on Qdrant.", no_args_is_help=True, cls=RagrecGroup)


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="RAGREC_DATA_DIR",
                                            help="Embedded Qdrant data, event log, caches (default: ./.ragrec)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log each batch and rejected row."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Settings(data_dir=data_dir) if data_dir else Settings()


def settings_of(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj if ctx.obj is None else ctx.obj
    return obj if isinstance(obj, Settings) else Settings()


def recommender_of(ctx: typer.Context, *, llm: str | None = None):
    """The command's Recommender; `llm` overrides Settings.llm (the --llm option)."""
    from ragrec.recommender import Recommender

    settings = settings_of(ctx)
    return Recommender(settings.model_copy(update={"llm": llm}) if llm else settings)


def split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
