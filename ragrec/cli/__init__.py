"""`ragrec ...`: the command line, one module per command group. Commands parse options, call the library and
print; nothing more."""

from ragrec.cli import catalog, eval, recommend, serve, users  # noqa: F401  (each registers its commands on `app`)
from ragrec.cli.app import app
from ragrec.cli.events import events_app

app.add_typer(events_app, name="events")

__all__ = ["app"]
