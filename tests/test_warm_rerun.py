"""Issue 32 point 3, warm reruns: the fixed costs (ingest and join input, the insights stage) come from the
stage cache (refine.memo) keyed by the inputs' content, give byte-identical outputs, and never hold an e-mail,
phone or card number of the customer table."""

from __future__ import annotations

import json

import pytest

from refine.demo.company import generate_company, write_demo_data
from refine.io.config import load_config
from refine.run.cycle import run_cycle

SAME = ("proposals.json", "topics.json", "insights.json", "rejects.csv")


@pytest.fixture
def demo(tmp_path, monkeypatch, hashing_model):
    monkeypatch.setenv("REFINE_CACHE_DIR", str(tmp_path / "cache"))
    return write_demo_data(tmp_path / "data", generate_company(seed=3, n_customers=500, response_rate=0.3))


def _run(demo, out):
    run_cycle(demo["feedback"], demo["customers"], load_config(demo["config"]), out, quiet=True)
    return json.loads((out / "run.json").read_text())


def test_warm_rerun_reuses_the_fixed_costs_and_writes_the_same_files(demo, tmp_path):
    cold = _run(demo, tmp_path / "cold")
    warm = _run(demo, tmp_path / "warm")
    assert cold["stage_cache"]["insights"] == "computed"
    assert warm["stage_cache"]["insights"] == "reused"
    for name in SAME:
        assert (tmp_path / "cold" / name).read_bytes() == (tmp_path / "warm" / name).read_bytes(), name
    assert cold["counts"] == warm["counts"] and cold["inputs"] == warm["inputs"]
    assert cold["warnings"] == warm["warnings"]
