"""Every command the report suggests runs as pasted, from the folder the user ran refine in."""

import html
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from refine.demo.company import generate_company, write_demo_data
from refine.io.config import load_config
from refine.run.cycle import run_cycle

ROOT = Path(__file__).resolve().parents[1]


def commands(run: Path) -> list[str]:
    """The `refine ...` commands in report.md (code spans) and report.html (<code> elements), md first."""
    md = re.findall(r"(`+) (refine .*?) \1", (run / "report.md").read_text())
    page = re.findall(r"<code[^>]*>(refine [^<]*)</code>", (run / "report.html").read_text())
    found_md, found_html = [c for _, c in md], [html.unescape(c) for c in page]
    assert found_md == found_html, (found_md, found_html)  # both reports suggest the same commands
    return found_md


# 600 customers: merges only (no observed gap: the default relative MDE); 2,000: a new segment with its gap
@pytest.mark.parametrize("customers,expect", [(600, "--relative"), (2000, "--mde 0.1206")])
def test_every_suggested_command_runs_as_pasted(tmp_path, monkeypatch, customers, expect, fake_embedder):
    company = write_demo_data(tmp_path / "data", generate_company(seed=5, n_customers=customers, response_rate=0.3))
    monkeypatch.chdir(tmp_path)  # the user's working folder; the run is given relative paths, as typed
    config = load_config(company["config"])
    run_cycle(
        Path("data") / Path(company["feedback"]).name,
        Path("data") / Path(company["customers"]).name,
        config,
        Path("runs") / "2026-11",
        embedder=fake_embedder,
        quiet=True,
    )
    found = commands(tmp_path / "runs" / "2026-11")
    assert found and all(expect in c for c in found), found
    assert not any(re.search(r"\bX\b|OUTCOME", c) for c in found), found  # no placeholder left to fill in
    for command in found:
        words = shlex.split(command)
        assert words[0] == "refine"
        done = subprocess.run(
            [sys.executable, "-m", "refine", *words[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        out = tmp_path / words[words.index("--out") + 1]
        assert (out / "plan.json").is_file() and (out / "assignments.csv").is_file()


def test_no_command_without_an_outcome_to_test_on():
    from refine.report.render import ab_command
    from refine.segments.model import Proposal

    p = Proposal.from_json({"id": "merge-1", "kind": "merge", "segments": ["A", "B"], "rule": "x", "evidence": {}})
    assert ab_command(p, "runs/may", []) is None
    made = ab_command(p, "my runs/may", ["churned"])
    assert made["command"] == (
        "refine ab plan --run 'my runs/may' --proposal merge-1 --metric churned --mde 0.05 --relative --out ab-merge-1"
    )
    assert "5% relative change in churned (a default" in made["assumption"]
