"""Property: whatever a careless or hostile user passes to `ingest`, `events load`, `feedback` and
`recommend --filter` (argument values, file names, file contents), the command ends with exit 0, 1 or 2 and a
message, never a traceback, and the catalog and the event log never shrink except by an explicit `--sync`.

In-process through Typer's CliRunner on the real `ragrec` app, so that each run costs milliseconds, not a Python
start-up: the error handling under test (ragrec/cli/errors.py) sits in the app's root command, which the console
script and CliRunner both go through. Bounded (a few dozen runs per command) to stay well under a minute."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings as hsettings, strategies as st
from typer.testing import CliRunner

from test_ingestion import write_csv

from ragrec.cli import app
from ragrec.config import Settings
from ragrec.events.log import EventLog, events_url
from ragrec.events.models import Event, event_problem
from ragrec.ingestion import IngestOptions, ingest
from ragrec.ingestion.rows import FieldSpec
from ragrec.store.edge import EdgeStore

runner = CliRunner()
RUNS = hsettings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ITEMS = ["1", "2", "3", "5", "6", "10", "32", "47"]
FIELDS = ["movieId", "id", "title", "genres", "year", "user_id", "item_id", "type", "timestamp", "value", "rating"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder, demo_movies):
    """A data dir with a few demo movies and events, a folder for the generated files, and a store kept open on
    the data dir for the whole module: the commands' stores share it (one process owns a data dir), so each run
    skips reopening and flushing the shards."""
    folder = tmp_path_factory.mktemp("cli-properties")
    data = folder / "data"
    wanted = [m for m in demo_movies if str(m["movieId"]) in ITEMS]
    options = IngestOptions(id_field="movieId", text_fields=["title", "genres"],
                            payload_fields=[FieldSpec.parse(f) for f in ("title", "year:int", "genres:list")])
    ingest(write_csv(folder / "m.csv", wanted), options, settings=Settings(data_dir=data), embedder=embedder)
    with EventLog(events_url(Settings(data_dir=data))) as log:
        log.append([Event(user_id="u1", item_id=i, type="like") for i in ITEMS[:3]], lambda ids: set(ids))
    (folder / "a-folder").mkdir()
    store, log = EdgeStore(data), EventLog(events_url(Settings(data_dir=data)))
    try:
        yield data, folder, itertools.count(), store, log
    finally:
        log.close()
        store.close()


def counts(world) -> tuple[int, int]:
    _, _, _, store, log = world
    return store.count("items"), log.count()


def run_cli(world, args: list[str], *, may_delete: bool = False):
    data = world[0]
    before = counts(world)
    result = runner.invoke(app, args, env={"RAGREC_DATA_DIR": str(data), "COLUMNS": "200"})
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, output)
    event(f"{args[0]}: exit {result.exit_code}")  # --hypothesis-show-statistics: how often each outcome ran
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in output and "internal error" not in output, (args, output)
    if result.exit_code:
        assert "error" in output.lower() or "Usage:" in output, (args, output)  # it says why
    after = counts(world)
    if not (may_delete and result.exit_code == 0):
        assert after[0] >= before[0], (args, before, after, output)
    assert after[1] >= before[1], (args, before, after, output)
    return result


def assert_no_poison(world) -> None:
    """The log holds no event ragrec would reject now (a rating out of range, a value that is not finite, a future
    time): they are refused where they come in, not stored to poison a user at the next reindex."""
    log = world[4]
    assert [e for e in log.iter_events() if event_problem(e, Settings())] == []


# --- what the user types and what the files hold: mostly plausible (to get deep into the jobs), often hostile -----


def mostly(plausible, hostile):
    return st.one_of(plausible, plausible, plausible, hostile)


numbers = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True)).map(repr)
words = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
values = st.one_of(numbers, words, st.sampled_from(["", "nan", "inf", "-inf", "1e308", "4.5", "99", "like", "true",
                                                    "2100-01-01T00:00:00", "4102444800", "1700000000"] + ITEMS))
fields = st.one_of(st.sampled_from(FIELDS), words)
extremes = st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "99", "-1", "0", "5e-324"])
names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2fff), min_size=1, max_size=12)

catalog_rows = st.fixed_dictionaries({
    "movieId": mostly(st.integers(1, 10**6).map(str), values),
    "title": mostly(names, values),
    "year": mostly(st.integers(1900, 2030).map(str), values),
    "genres": mostly(st.sampled_from(["Comedy", "Drama|Horror", "Sci-Fi", ""]), values),
})
event_rows = st.fixed_dictionaries({
    "user_id": mostly(st.sampled_from(["u1", "u2", "u3"]), values),
    "item_id": mostly(st.sampled_from(ITEMS), values),
    "type": mostly(st.sampled_from(["like", "view", "rating", "dislike", "purchase"]), values),
    "timestamp": mostly(st.integers(946_684_800, 1_760_000_000).map(str), values),
    "value": mostly(st.sampled_from(["", "0.5", "3", "5"]), values),
})


@st.composite
def files(draw, rows) -> tuple[str, bytes]:
    """A file name and its bytes: CSV or JSON Lines whose rows are mostly plausible (some columns may be missing or
    extra), or garbage."""
    kind = draw(st.sampled_from(["csv", "csv", "jsonl", "jsonl", "binary", "empty"]))
    records = draw(st.lists(rows, max_size=6))
    header = list(draw(rows))
    header = draw(mostly(st.just(header), st.lists(fields, max_size=6)))
    if kind == "csv":
        text = "\n".join([",".join(header)] + [",".join(r.get(h, "") for h in header) for r in records]) + "\n"
        content = text.encode("utf-8", "surrogatepass")
    elif kind == "jsonl":
        content = "".join(json.dumps({h: r.get(h) for h in header}) + "\n" for r in records).encode("utf-8",
                                                                                                    "surrogatepass")
    elif kind == "binary":
        content = draw(st.binary(max_size=400))
    else:
        content = b""
    extension = {"csv": ".csv", "jsonl": ".jsonl"}.get(kind, ".csv")
    name = draw(mostly(st.just("f" + extension), st.sampled_from(["f.parquet", "f.txt", "f", "f.json", "f.csv"])))
    return name, content


def placed(world, file: tuple[str, bytes]) -> str:
    folder, counter = world[1], world[2]
    path = folder / f"{next(counter)}-{file[0]}"
    path.write_bytes(file[1])
    return str(path)


class Args:
    """Command-line options drawn for one run: all plausible, except the one named `hostile` (if any), so that
    each run is either a deep run of the job on a generated file or a targeted attack on one option."""

    def __init__(self, data, hostile: str | None):
        self.data, self.hostile = data, hostile

    def __call__(self, name: str, plausible, hostile, *, optional: bool = True) -> list[str]:
        if name == self.hostile:
            return [name, self.data.draw(hostile)]
        if optional and self.data.draw(st.booleans()):
            return []
        return [name, self.data.draw(plausible)]


def hostile(*names: str) -> st.SearchStrategy[str | None]:
    return st.sampled_from([None, None, None, *names])


# --- the properties ------------------------------------------------------------------------------------------------


@RUNS
@given(data=st.data(), file=files(catalog_rows),
       attack=hostile("--id-field", "--text-fields", "--payload-fields", "--format", "--batch-size", "--long-text",
                      "--collection", "--rejects", "path"))
def test_ingest_never_crashes_nor_loses_items(world, data, file, attack):
    folder, arg = world[1], Args(data, attack)
    specs = st.tuples(fields, st.sampled_from(["", ":int", ":float", ":list", ":bool", ":str", ":date"])).map("".join)
    args = ["ingest", str(folder / "a-folder") if attack == "path" else placed(world, file)]
    args += arg("--id-field", st.just("movieId"), fields, optional=False)
    args += arg("--text-fields", st.sampled_from(["title", "title,genres"]), st.lists(fields, max_size=3).map(",".join),
                optional=False)
    args += arg("--payload-fields", st.sampled_from(["title", "year:int,genres:list", "year"]),
                st.lists(specs, max_size=3).map(",".join))
    args += arg("--format", st.just({".csv": "csv"}.get(Path(file[0]).suffix, "jsonl")),
                st.sampled_from(["parquet", "xml", "csv", "jsonl"]))
    args += arg("--batch-size", st.sampled_from(["1", "3", "1000"]), st.sampled_from(["0", "-1", "1" + "0" * 29, "x"]))
    args += arg("--long-text", st.sampled_from(["truncate", "reject"]), st.just("shorten"))
    args += arg("--collection", st.just("items"), st.sampled_from(["users", "users-g1", "other"]))
    args += arg("--rejects", st.just(str(folder / "r.jsonl")),
                st.sampled_from([str(folder / "a-folder"), str(folder / "m.csv" / "r.jsonl")]))
    sync = data.draw(st.sampled_from([False, False, True]))
    run_cli(world, args + (["--sync"] if sync else []), may_delete=sync)


@hsettings(RUNS, max_examples=30)
@given(data=st.data(), file=files(event_rows),
       attack=hostile("--value-field", "--preset", "--type", "--user-field", "--item-field", "--timestamp-field",
                      "--timestamp-format", "--batch-size", "--rejects"))
def test_events_load_never_crashes_nor_loses_events(world, data, file, attack):
    folder, arg = world[1], Args(data, attack)
    args = ["events", "load", placed(world, file)]
    args += arg("--value-field", st.just("value"), fields, optional=False)
    args += arg("--preset", st.nothing(), st.sampled_from(["movielens", "netflix"])) if attack == "--preset" else []
    args += arg("--type", st.sampled_from(["like", "rating"]), words)
    for name, column in (("--user-field", "user_id"), ("--item-field", "item_id"), ("--timestamp-field", "timestamp")):
        args += arg(name, st.just(column), fields)
    args += arg("--timestamp-format", st.sampled_from(["epoch", "auto"]), st.sampled_from(["julian", "iso"]))
    args += arg("--batch-size", st.sampled_from(["1", "2"]), st.sampled_from(["0", "1" + "0" * 29]))
    args += arg("--rejects", st.just(str(folder / "r.jsonl")),
                st.sampled_from([str(folder / "a-folder"), str(folder / "m.csv" / "r.jsonl")]))
    run_cli(world, args)
    assert_no_poison(world)


@hsettings(RUNS, max_examples=60)
@given(data=st.data(), attack=hostile("--user", "--item", "--type", "--value", "--value"))
def test_feedback_never_crashes_nor_poisons_a_user(world, data, attack):
    arg = Args(data, attack)
    args = ["feedback"]
    args += arg("--user", st.sampled_from(["u1", "u2", "w"]), words, optional=False)
    args += arg("--item", st.sampled_from(ITEMS), words, optional=False)
    args += arg("--type", st.sampled_from(["like", "rating", "dislike", "view"]), words, optional=False)
    if args[-1] == "rating" or attack == "--value":  # only ratings carry a value
        args += arg("--value", st.sampled_from(["0.5", "3", "4.5", "5"]), st.one_of(extremes, numbers, values),
                    optional=False)
    result = run_cli(world, args)
    assert_no_poison(world)
    if result.exit_code == 0:
        user = args[args.index("--user") + 1]
        shown = run_cli(world, ["recommend", "--user", user, "--json"])
        assert shown.exit_code == 0  # a user an accepted event created is a user one can recommend for


filters = mostly(
    st.one_of(
        st.tuples(st.sampled_from(["genres=", "genres!="]), st.sampled_from(["Comedy", "Drama,Horror", "'Sci-Fi'"])),
        st.tuples(st.sampled_from(["year>=", "year<", "year>", "year<=", "year="]),
                  st.integers(1900, 2030).map(str)),
    ).map("".join),
    st.one_of(st.tuples(st.sampled_from(["genres", "year", "title", "nosuchfield", "item_id"]),
                        st.sampled_from(["=", "!=", ">=", ">", "<=", "<", "==", "=>", ""]), values).map("".join), words),
)


@hsettings(RUNS, max_examples=40)
@given(expressions=st.lists(filters, min_size=1, max_size=3), k=mostly(st.sampled_from(["1", "5"]), st.just("0")),
       user=st.sampled_from([[], ["--user", "u1"], ["--user", "nobody"]]), as_json=st.booleans())
def test_recommend_filters_never_crash(world, expressions, k, user, as_json):
    args = ["recommend", "-k", k, *user] + [part for e in expressions for part in ("--filter", e)]
    run_cli(world, args + (["--json"] if as_json else []))


def test_every_option_help_survives_rich_markup():
    """Typer renders help with rich markup, which swallows a bracketed "[default: |]" whole: defaults go in
    parentheses, and every command's help prints them."""
    import typer.main

    def commands(group, path=()):
        for name, command in getattr(group, "commands", {}).items():
            yield path + (name,), command
            yield from commands(command, path + (name,))

    root = typer.main.get_command(app)
    for path, command in commands(root):
        for param in command.params:
            assert "[" not in (getattr(param, "help", None) or ""), (path, param.name, param.help)
    shown = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"}).output
    assert "(default: RAGREC_LIST_SEPARATOR, |)" in shown and "(default: from the extension)" in shown


def test_a_flag_shows_no_value_type_in_help():
    """Typer's rich help gave every flag a `<bool>` value type (`--sync <bool>`), as if it took a value."""
    shown = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"}).output
    [sync] = [line for line in shown.splitlines() if line.strip("│ ").startswith("--sync ")]
    assert "<bool>" not in shown and "<int range>" in shown, shown  # options that take a value keep their type
    assert sync.split("--sync")[1].split()[0] == "Delete", sync


def test_the_rate_column_shows_the_average_when_rich_has_too_few_samples():
    """One update per batch: rich's windowed speed needs two within 30 s, and a one-batch ingest showed 0/s."""
    from rich.progress import Progress

    from ragrec.cli.console import RateColumn

    now = [0.0]
    progress = Progress(RateColumn("items"), get_time=lambda: now[0])
    task = progress.add_task("ingest", total=None)
    now[0] = 20.0
    progress.update(task, completed=204)
    assert RateColumn("items").render(progress.tasks[0]).plain == "10 items/s"
