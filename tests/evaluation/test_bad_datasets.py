"""`ragrec eval` on folders that hold nothing to evaluate, and a report folder it cannot write: one line, at once,
never an hour's run that ends in a report of nan ("ragrec loses nowhere")."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ragrec.cli import app
from ragrec.evaluation.data import load_movielens
from ragrec.io import CatalogFileError

MOVIES = "movieId,title,genres\n1,A (1995),Comedy\n2,B (1996),Drama\n"
HEADER = "userId,movieId,rating,timestamp\n"


def dataset(folder, ratings: str):
    folder.mkdir()
    (folder / "movies.csv").write_text(MOVIES)
    (folder / "ratings.csv").write_text(ratings)
    return folder


@pytest.mark.parametrize("ratings,message", [
    ("", "ratings.csv: no ratings, nothing to evaluate"),
    (HEADER, "ratings.csv: no ratings, nothing to evaluate"),
    (HEADER + "foo,bar,baz,qux\n", "ratings.csv: not MovieLens ratings (userId,movieId,rating,timestamp)"),
])
def test_ratings_that_hold_nothing_are_refused_by_name(tmp_path, ratings, message):
    with pytest.raises(CatalogFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_movielens(dataset(tmp_path / "d", ratings))


def test_the_cli_says_so_in_one_line_before_running_anything(tmp_path):
    few = dataset(tmp_path / "few", HEADER + "1,1,4,100\n1,2,3,200\n")  # no user with 3 ratings
    (tmp_path / "afile").write_text("")
    runner = CliRunner()
    cases = [
        (["eval", "--dataset", str(few), "--quick", "5", "--no-content", "--out", str(tmp_path / "r")],
         "no user has the 3 ratings a protocol needs"),
        (["eval", "--dataset", str(tmp_path / "afile"), "--quick", "5", "--out", str(tmp_path / "r")],
         "a file, not a dataset folder"),
        (["eval", "--dataset", str(few), "--quick", "5", "--out", str(tmp_path / "afile" / "sub")],
         "Not a directory"),  # the report folder is checked first, not after the run
    ]
    for args, message in cases:
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, result.output
