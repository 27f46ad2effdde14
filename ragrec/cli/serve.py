"""`ragrec serve` (the HTTP API and the web chat page) and `ragrec chat` (the same chat, in the terminal)."""

from __future__ import annotations

import threading
from typing import Optional

import typer

from ragrec.cli.app import app, recommender_of, settings_of
from ragrec.cli.console import console, err, fail


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help="(default: RAGREC_API_HOST, 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="(default: RAGREC_API_PORT, 8000)"),
    llm: Optional[str] = typer.Option(None, "--llm", help="local, openai or none (default: RAGREC_LLM)"),
) -> None:
    """Serve the HTTP API (/docs), the web chat page (/) and /metrics; models and store are loaded at start-up.
    While it runs, this process owns the embedded data dir: other commands go through its API."""
    import uvicorn

    from ragrec.api import create_app
    from ragrec.recommender import Recommender

    settings = settings_of(ctx)
    updates = {k: v for k, v in {"api_host": host, "api_port": port, "llm": llm}.items() if v is not None}
    settings = settings.model_copy(update=updates)
    if settings.llm not in ("local", "openai", "none"):
        fail(f"unknown LLM backend {settings.llm!r}: use local, openai or none", 2)
    if not settings.api_keys and settings.api_anonymous == "none":
        fail("no API keys configured: set RAGREC_API_KEYS='{\"<key>\": \"admin\"}' (roles client, admin), or "
             "RAGREC_API_ANONYMOUS=client to let anyone on this machine use the client routes", 2)
    # warmed here, not in the app's start-up, so that a data dir in use or a model that fails to load is one line
    # (uvicorn would print the lifespan's traceback)
    with Recommender(settings) as rec:
        rec.warm(llm=settings.llm != "none")
        err.print(f"ragrec serving on http://{settings.api_host}:{settings.api_port} (API docs at /docs)")
        uvicorn.run(create_app(settings, recommender=rec, warm=False), host=settings.api_host,
                    port=settings.api_port, log_level="warning", timeout_graceful_shutdown=10)


@app.command("chat")
def chat_cmd(
    ctx: typer.Context,
    user: Optional[str] = typer.Option(None, "--user", help="Personalize with this user's history."),
    k: int = typer.Option(5, "-k", min=1, max=20),
    explain: bool = typer.Option(True, "--explain/--no-explain", help="Describe each item (the LLM stage)."),
    llm: Optional[str] = typer.Option(None, "--llm", help="local, openai or none (default: RAGREC_LLM)"),
) -> None:
    """Chat about what to watch, in the terminal: each message refines the last ("something like Toy Story",
    "but not animated"); "start over" begins again; an empty line or Ctrl-D ends."""
    from pydantic import ValidationError
    from rich.markup import escape

    from ragrec.chat import Chat, ChatRequest
    from ragrec.chat.turn import MAX_MESSAGE_CHARS
    from ragrec.cli.errors import validation_message

    if user is not None and not user.strip():
        fail("--user is blank: give a user id, or leave --user out", 2)
    with recommender_of(ctx, llm=llm) as rec:
        chat = Chat(rec)
        conversation = None

        # the models load while the first message is typed (it took 15-20 s to answer when it loaded them); not
        # the store, which the end of the chat may close meanwhile
        def warm() -> None:
            try:
                rec.embed("warm-up")
                if explain and rec.settings.llm != "none":
                    rec.llm.warm()
            except Exception:  # noqa: BLE001 - what fails to load says so at the turn that needs it
                pass

        threading.Thread(target=warm, name="ragrec-chat-warm", daemon=True).start()
        console.print("[dim]Ask for something; an empty line ends.[/]")
        while True:
            try:
                message = console.input("[bold cyan]you>[/] ").strip()
            except (EOFError, KeyboardInterrupt):
                break
            if not message:
                break
            if len(message) > MAX_MESSAGE_CHARS:  # a pasted page: read its start, and say so
                console.print(f"[yellow]note:[/] only the first {MAX_MESSAGE_CHARS:,} of {len(message):,} "
                              "characters are read")
                message = message[:MAX_MESSAGE_CHARS]
            try:
                with console.status("thinking"):
                    answer = chat.turn(ChatRequest(message=message, conversation_id=conversation,
                                                   user_id=user, k=k, explain=explain))
            except ValidationError as exc:  # a message of control characters only: say so in one line
                console.print(f"[red]error:[/] {escape(validation_message(exc))}")
                continue
            except Exception as exc:  # noqa: BLE001 - say what went wrong, keep the conversation going
                console.print(f"[red]error:[/] {escape(str(exc))}")
                continue
            conversation = answer.conversation_id
            if answer.chips:
                console.print(" ".join(f"[on grey23] {escape(c)} [/]" for c in answer.chips))  # "[bold]" is text
            console.print(escape(answer.answer))
