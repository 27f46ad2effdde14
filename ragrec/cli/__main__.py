from ragrec.cli import app

app()
