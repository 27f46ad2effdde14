"""Every failure of a `ragrec` command ends as one line on stderr and an exit code, never a Python traceback.

Commands catch what they can say better themselves; whatever escapes them reaches the root command's group, which
maps ragrec's own exception types here: 2 for bad input or a bad invocation, 1 for a failure of the environment
(store unreachable, data dir in use, unreadable file). Anything else is a bug: it is reported as an internal error
(the traceback is logged with -v).
"""

from __future__ import annotations

import logging
import os
import re
import sys

import click
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click: its usage errors and contexts are its own copy's
    from typer._click.globals import get_current_context
    from typer._click.exceptions import ClickException as _VendoredClickException
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import get_current_context
    from click.exceptions import NoArgsIsHelpError, UsageError

    _VendoredClickException = click.exceptions.ClickException

log = logging.getLogger("ragrec.cli")

# how a command ends on purpose (an exit code, a usage error): never turned into an error message here
_CONTROL = (typer.Exit, typer.Abort, _VendoredClickException, click.exceptions.ClickException, click.exceptions.Exit,
            click.exceptions.Abort)


def describe(exc: BaseException) -> tuple[str, int]:
    """The message and exit code for an exception that reached the top of a command."""
    from ragrec.events.load import EventLoadError
    from ragrec.events.log import EventLogError
    from ragrec.ingestion import IngestError, IngestFileError
    from ragrec.io import CatalogFileError
    from ragrec.retrieval.candidates import UnknownItems
    from ragrec.retrieval.filters import FilterSyntaxError
    from ragrec.store import StoreError

    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, (StoreError, EventLogError)):
        return str(exc), 1
    if isinstance(exc, SQLAlchemyError):  # the event log failed after it was opened (server gone, disk full)
        from ragrec.events.log import db_error

        return f"the event log failed: {db_error(exc)}", 1
    if isinstance(exc, (IngestFileError, EventLoadError, CatalogFileError)):  # an unusable file
        return str(exc), 1
    if isinstance(exc, IngestError):  # the options: a reserved field, the wrong collection, a refused --sync
        return str(exc), 2
    if isinstance(exc, UnknownItems):
        return str(exc.args[0]), 2
    if isinstance(exc, ValidationError):
        return validation_message(exc), 2
    if isinstance(exc, SettingsError) and (m := re.match(r'error parsing value for field "(\w+)"', str(exc))):
        # a setting whose value is not JSON (RAGREC_API_KEYS with a trailing comma): name its variable
        return f"invalid setting {m[1]} (RAGREC_{m[1].upper()}): not valid JSON ({exc.__cause__ or exc})", 2
    if isinstance(exc, FilterSyntaxError):
        return str(exc), 2
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", 1
    if isinstance(exc, ValueError):
        return str(exc), 2
    log.info("internal error", exc_info=exc)
    return f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback, and please report it)", 1


def validation_message(exc: ValidationError, options: dict[str, str] | None = None) -> str:
    """A pydantic error in one line; for Settings, each field's environment variable is named. A field given by
    an option of the running command is named as that option (`--strategy`, not `strategy`): a field of the
    option's own name (`type_` gives `type`), or one `options` maps to it ({"user_id": "--user"})."""
    named = {**_command_options(), **(options or {})} if exc.title != "Settings" else {}

    def where(loc: tuple) -> str:
        if loc and loc[0] in named:
            return ".".join([named[loc[0]], *map(str, loc[1:])])
        name = ".".join(map(str, loc))
        return f"{name} (RAGREC_{name.upper()})" if exc.title == "Settings" and loc else name

    def message(e: dict) -> str:  # a model-level check's message without pydantic's "Value error, "
        return e["msg"].removeprefix("Value error, ") if e["type"] == "value_error" else e["msg"]

    parts = [f"{where(e['loc'])}: {message(e)}" if e["loc"] else message(e) for e in exc.errors()]
    prefix = ("invalid setting " if all(e["loc"] for e in exc.errors()) else "invalid settings: ") \
        if exc.title == "Settings" else ""
    return prefix + "; ".join(parts)


def _command_options() -> dict[str, str]:
    """The running command's options by parameter name (a trailing `_` dropped), each as its long form."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return {}
    return {param.name.rstrip("_"): max(param.opts, key=len) for param in ctx.command.params
            if param.param_type_name == "option" and param.name}


class RagrecGroup(TyperGroup):
    """The root command: turns what escapes a command (or the global options) into a one-line error."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:  # the global options' usage errors (`ragrec --bogus`)
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            _usage_error(exc)

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not ctx.resilient_parsing:
            _refuse_undecodable(ctx, name, command, rest)
        return name, command, rest

    def invoke(self, ctx):
        from ragrec.cli.console import fail

        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a closed pipe shows here for output still buffered, not at the interpreter's exit
            return result
        except _CONTROL as exc:
            option = getattr(exc, "option_name", None)  # "ragrec collections --data-dir X": the root's option
            if option and exc.message.startswith("No such option") and any(
                    option in p.opts for p in self.get_params(ctx)) and ctx.invoked_subcommand:
                exc.message += f" (a global option, before the command: ragrec {option} ... " \
                               f"{ctx.invoked_subcommand} ...)"
            if isinstance(exc, UsageError):
                _usage_error(exc)
            raise
        except BrokenPipeError:  # `ragrec similar --json | head -1`: the reader has all it wants, which is no error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the final flush must not fail again
            raise typer.Exit(141) from None  # 128 + SIGPIPE: what a tool that SIGPIPE ended exits with
        except Exception as exc:  # noqa: BLE001: the one place that turns any failure into a message
            message, code = describe(exc)
            fail(message, code)


def _usage_error(exc: UsageError) -> None:
    """Click's usage error (an unknown option or command, a value out of range) as one line, with click's own
    suggestions, instead of its boxed Usage/Try/Error block. The help that `ragrec` alone prints is left as is."""
    from ragrec.cli.console import fail

    if isinstance(exc, NoArgsIsHelpError):
        raise exc
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    fail(exc.format_message() + hint, exc.exit_code)


def _refuse_undecodable(ctx, name: str, command, args: list[str]) -> None:
    """Command-line bytes that are not UTF-8 reach Python as lone surrogates, which no database, hash or JSON
    takes ("error: utf-8" from deep inside): refuse them up front, naming the option. Paths are exempt: a file name
    need not be UTF-8, and the file system takes it back as it was."""
    from ragrec.cli.console import fail
    from ragrec.schema import SURROGATE

    if not any(SURROGATE.search(arg) for arg in args):  # the usual case: no second parse of the command line
        return
    while isinstance(command, TyperGroup) and args and (sub := command.get_command(ctx, args[0])):  # events load
        name, command, args = args[0], sub, args[1:]
    try:  # a dry parse: click's own reading of the options (a usage error is left to the real one)
        parsed = command.make_context(name, list(args), parent=ctx, resilient_parsing=True)
    except Exception:  # noqa: BLE001: whatever it is, the real parse says it
        return
    for param in command.params:
        value = parsed.params.get(param.name)
        for text in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(text, str) and SURROGATE.search(text):  # a path arrives as a Path
                where = max(param.opts, key=len) if param.param_type_name == "option" else \
                    f"the argument {param.name.upper()}"
                shown = os.fsencode(text).decode("utf-8", "backslashreplace")  # its bytes, as the shell has them
                fail(f"{where} '{shown}' is not UTF-8 text: ids, queries and filters must be UTF-8 (check the "
                     "encoding of the terminal or script)", 2)
