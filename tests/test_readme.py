"""The README's settings stay the code's: every `Settings` field is named there as `RAGREC_<FIELD>`, and the
settings tables give each variable they list its real default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ragrec.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
FIELDS = Settings.model_fields


def test_every_setting_is_named_in_the_readme():
    named = set(re.findall(r"RAGREC_[A-Z0-9_]+", README))
    missing = [f"RAGREC_{name.upper()}" for name in FIELDS if f"RAGREC_{name.upper()}" not in named]
    assert not missing, f"settings the README never names: {missing}"
    unknown = sorted(v for v in named if v.removeprefix("RAGREC_").lower() not in FIELDS
                     and not v.startswith("RAGREC_TEST_"))  # the test suite's own variables (tests/conftest.py)
    assert not unknown, f"the README names variables no setting reads: {unknown}"


def _rows():
    """(variables, defaults) of each settings-table row: `| `RAGREC_A`, `RAGREC_B` | `1`, `x` | meaning |`."""
    for line in README.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`RAGREC_"):
            names = re.findall(r"`RAGREC_([A-Z0-9_]+)`", cells[0].split(" (")[0])
            defaults = [d.strip().strip("`").replace("\\|", "|") for d in re.split(r",\s(?![^{]*})", cells[1])]
            yield line, [n.lower() for n in names], defaults


def _same(documented: str, default) -> bool:
    if default is None:
        return documented == "unset" or documented.startswith("<data dir>")
    if isinstance(default, bool):
        return documented == str(default).lower()
    if isinstance(default, (int, float)):
        try:
            return float(documented) == default
        except ValueError:
            return False
    if isinstance(default, dict):
        return json.loads(documented) == default
    if isinstance(default, Path):
        return Path(documented) == default
    return documented == default


ROWS = list(_rows())


def test_the_tables_are_found():
    assert len(ROWS) > 50


@pytest.mark.parametrize("line, names, defaults", ROWS, ids=[",".join(names) for _, names, _ in ROWS])
def test_settings_tables_give_the_real_defaults(line, names, defaults):
    if len(defaults) == 1:  # one value for every variable of the row ("unset")
        defaults = defaults * len(names)
    assert len(defaults) == len(names), f"{len(names)} variables, {len(defaults)} defaults: {line}"
    for name, documented in zip(names, defaults):
        assert name in FIELDS, f"RAGREC_{name.upper()} is no setting: {line}"
        default = FIELDS[name].get_default(call_default_factory=True)  # config.py's, whatever the environment says
        assert _same(documented, default), (
            f"RAGREC_{name.upper()}: the README says {documented!r}, config.py {default!r}")
