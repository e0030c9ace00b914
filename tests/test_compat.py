"""Runs written by an earlier refine still work: loaded, planned from, and used as --previous."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.io.runs import load_run
from refine.run.results import RunManifest
from tests.test_end_to_end import ab_plan

OLD = Path(__file__).parent / "data" / "run-0.1.0"
runner = CliRunner()


@pytest.fixture
def old_run(tmp_path) -> Path:
    """The 0.1.0 run folder copied, its input paths pointed at the copy (run.json keeps absolute paths)."""
    shutil.copytree(OLD, tmp_path / "old")
    run = tmp_path / "old" / "run"
    manifest = json.loads((run / "run.json").read_text())
    for name in ("feedback", "customers"):
        manifest["inputs"][name]["path"] = str(tmp_path / "old" / "data" / f"{name}.csv")
    (run / "run.json").write_text(json.dumps(manifest))
    return run


def test_manifest_round_trips_every_key_of_an_old_run(old_run):
    document = json.loads((old_run / "run.json").read_text())
    manifest = RunManifest.from_json(document)
    assert manifest.refine_version == "0.1.0"
    assert manifest.counts["feedback_accepted"] == document["counts"]["feedback_accepted"]
    assert manifest.to_json() == document  # nothing lost, nothing renamed


def test_old_run_loads_with_its_customers_and_proposals(old_run):
    loaded = load_run(old_run)
    assert loaded.manifest.started == json.loads((old_run / "run.json").read_text())["started"]
    assert len(loaded.customers) == loaded.manifest.counts["customers_accepted"]
    assert loaded.proposals and loaded.proposals[0]["id"].startswith("new-")
    assert loaded.config.customers.segment == "Segment"


def test_ab_plan_from_an_old_run(old_run, tmp_path):
    proposal = load_run(old_run, with_customers=False).proposals[0]["id"]
    result = runner.invoke(app, ab_plan(old_run, proposal, tmp_path / "plan"))
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert plan["proposal"] == proposal and plan["eligible"] > 0


def test_history_lists_an_old_run(old_run):
    result = runner.invoke(app, ["history", str(old_run.parent)])
    assert result.exit_code == 0, result.output
    assert "proposals" in result.output and str(old_run) in result.output
