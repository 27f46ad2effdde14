"""GPU when present: `auto` embeds and trains ALS on a GPU if there is one and on the CPU otherwise; naming a GPU
that is not there is a clear error before any work. This machine has no GPU: the tests check the CPU side (the
GPU code paths need a CUDA machine) and skip where they would assume there is none."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import implicit.gpu
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from ragrec.cli import app
from ragrec.config import Settings
from ragrec.devices import DeviceError, collab_on_gpu, embedding_device
from ragrec.embedding import get_embedder
from ragrec.events.log import EventLog, events_url
from ragrec.events.models import Event
from ragrec.retrieval.collab import train_item_factors

no_torch_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
no_als_gpu = pytest.mark.skipif(implicit.gpu.HAS_CUDA, reason="implicit can train on a GPU here")


@no_torch_gpu
def test_auto_embeds_on_the_cpu_without_a_gpu(embedder):
    assert Settings().embedding_device == "auto"
    assert embedding_device("auto") == "cpu" and embedding_device("cpu") == "cpu"
    assert get_embedder(Settings()) is embedder  # the session's model, loaded with the default (auto)
    assert embedder._model.device.type == "cpu"


@no_torch_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_asking_for_a_missing_gpu_is_a_clear_error(device):
    with pytest.raises(DeviceError, match=r"torch sees no CUDA GPU.*use auto or cpu"):
        get_embedder(Settings(embedding_device=device))


def test_the_exported_backends_run_on_the_cpu(tmp_path):
    with pytest.raises(DeviceError, match="runs on cpu only"):
        get_embedder(Settings(data_dir=tmp_path, embedding_backend="onnx", embedding_device="cuda"))


@given(st.text(max_size=10).filter(lambda s: s not in ("auto", "cpu", "cuda") and not s.startswith("cuda:")))
def test_a_device_name_is_checked_by_settings(name):
    with pytest.raises(ValidationError):
        Settings(embedding_device=name)


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "CPU", "mps"])
def test_misspelt_devices_are_refused(name):
    with pytest.raises(ValidationError, match="embedding_device"):
        Settings(embedding_device=name)
    with pytest.raises(ValidationError, match="collab_device"):
        Settings(collab_device=name)


@no_als_gpu
def test_collab_device_resolves_to_the_cpu_or_says_why_not():
    assert collab_on_gpu("auto") is False and collab_on_gpu("cpu") is False
    with pytest.raises(DeviceError, match=r"implicit\.gpu\.HAS_CUDA is false"):
        collab_on_gpu("cuda")


@pytest.fixture
def liked(tmp_path):
    """60 users over 24 items in two groups: users 0-29 like 5 neighbouring items of 0-11, users 30-59 of 12-23."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    events = [Event(user_id=f"u{u}", item_id=f"i{(u // 30) * 12 + (u + j) % 12}", type="like",
                    timestamp=start + timedelta(minutes=u * 10 + j))
              for u in range(60) for j in range(5)]
    log = EventLog(events_url(Settings(data_dir=tmp_path)))
    log.append(events, lambda ids: set(ids))
    try:
        yield log
    finally:
        log.close()


@no_als_gpu
def test_als_trains_on_the_cpu_under_auto_exactly_as_under_cpu(liked, tmp_path):
    options = dict(data_dir=tmp_path, collab_dim=8, collab_iterations=5)
    auto, report = train_item_factors(liked, Settings(**options))
    cpu, _ = train_item_factors(liked, Settings(**options, collab_device="cpu"))
    assert report.items == 24 and report.users == 60 and set(auto) == set(cpu)
    for item in auto:
        assert auto[item].dtype == np.float32 and auto[item].shape == (8,)
        np.testing.assert_array_equal(auto[item], cpu[item])
    # it learnt the two groups: an item is closer to its own group than to the other one
    own = np.mean([auto["i0"] @ auto[f"i{k}"] for k in range(1, 12)])
    other = np.mean([auto["i0"] @ auto[f"i{k}"] for k in range(12, 24)])
    assert own > other


@no_als_gpu
def test_als_on_a_missing_gpu_fails_before_reading_the_log(liked, tmp_path):
    with pytest.raises(DeviceError):
        train_item_factors(liked, Settings(data_dir=tmp_path, collab_device="cuda"))


@no_torch_gpu
def test_the_cli_says_so_in_one_line_with_exit_2(tmp_path):
    catalog = tmp_path / "m.jsonl"
    catalog.write_text('{"movieId": 1, "title": "Toy Story (1995)"}\n')
    env = {"RAGREC_DATA_DIR": str(tmp_path / "data"), "RAGREC_EMBEDDING_DEVICE": "cuda", "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["ingest", str(catalog), "--id-field", "movieId", "--text-fields", "title"],
                                env=env)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "RAGREC_EMBEDDING_DEVICE" in errors[0] and "no CUDA GPU" in errors[0]
