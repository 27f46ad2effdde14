"""The `ragrec` Typer app, its global options, and what every command group shares."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperOption

from ragrec.cli.errors import RagrecGroup
from ragrec.config import Settings

_display_type_rich = TyperOption.display_type_rich


def _flag_type(self: TyperOption, ctx) -> str | None:
    """No value type for a flag: Typer's rich help showed one (`--sync <bool>`, `--help <bool>`), as if the flag
    took a value; its plain help leaves it out, as this does."""
    return None if self.is_flag or self.count else _display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_type

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


def existing_settings(ctx: typer.Context) -> Settings:
    """The Settings of a command that works on what is there: a data dir that does not exist (a mistyped
    --data-dir) is an error, not a new empty one."""
    from ragrec.cli.console import fail

    settings = settings_of(ctx)
    if not settings.qdrant_url and not settings.data_dir.exists():
        fail(f"no data dir at {settings.data_dir}: nothing was ingested there (check --data-dir or RAGREC_DATA_DIR; "
             "`ragrec ingest` or `ragrec demo` make one)")
    return settings


def recommender_of(ctx: typer.Context, *, llm: str | None = None, create: bool = False, collection: str | None = None):
    """The command's Recommender; `llm` overrides Settings.llm (the --llm option), `collection` the items collection
    (the --collection option, checked here); `create`: the command may make the data dir (else it must exist)."""
    from ragrec.recommender import Recommender

    settings = settings_of(ctx) if create else existing_settings(ctx)
    update = {"llm": llm} if llm else {}
    if collection_option(collection) is not None:
        update["items_collection"] = collection
    return Recommender(settings.model_copy(update=update) if update else settings)


def collection_option(name: str | None) -> str | None:
    """The --collection option: a name, never a path (the embedded store makes a folder of it)."""
    from ragrec.cli.console import fail
    from ragrec.schema import collection_problem

    if name is not None and (problem := collection_problem(name)):
        fail(f"--collection: {problem}", 2)
    return name


def split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
