"""A run killed mid-way and started again with the same command ends with the same outputs, reusing the cache.

Each case starts `refine run` as a real process, waits until its progress reaches a stage, kills it with
SIGKILL (no cleanup of any kind runs), checks that the folder does not look like a finished run, then
runs the same command again and compares its outputs with an uninterrupted run's.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from refine.demo.company import generate_company, write_demo_data

STABLE_JSON = ("proposals.json", "topics.json")
STABLE_PARQUET = ("feedback.parquet", "segments.parquet", "assignments.parquet")


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    out = tmp_path_factory.mktemp("interrupted-data")
    return write_demo_data(out, generate_company(seed=3, n_customers=1200, response_rate=0.3))


# `refine run` with the hashing embedder in place of the model (refine.text.embed.HashingEmbedder): what is
# tested is restarting after a kill, not what the vectors mean, and each run skips loading torch
BOOT = (
    "import refine.text.embed as e; "
    "e.build_embedder = lambda model, *, cache_dir, **_: e.CachedEmbedder(e.HashingEmbedder(), cache_dir); "
    "from refine.cli.main import main; main()"
)


def _command(paths, out: Path, force: bool = False) -> list[str]:
    return [
        sys.executable,
        "-c",
        BOOT,
        "run",
        "--feedback",
        str(paths["feedback"]),
        "--customers",
        str(paths["customers"]),
        "--config",
        str(paths["config"]),
        "--out",
        str(out),
        *(["--force"] if force else []),
    ]


def _env(cache: Path) -> dict:
    return {**os.environ, "REFINE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _run(paths, out: Path, cache: Path, force: bool = False) -> subprocess.CompletedProcess:
    """The command run to the end; `force` replaces a finished run (an unfinished one is resumed without it)."""
    done = subprocess.run(_command(paths, out, force), env=_env(cache), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _kill_at(paths, out: Path, cache: Path, stage: str, force: bool = False) -> str:
    """Start a run and SIGKILL it as soon as its progress announces `stage`; returns what it printed."""
    proc = subprocess.Popen(
        _command(paths, out, force),
        env=_env(cache),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    seen = []
    deadline = time.monotonic() + 600
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith(f"- {stage}"):
                proc.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "run never reached " + stage
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert any(line.startswith(f"- {stage}") for line in seen), "".join(seen)[-2000:]
    return "".join(seen)


@pytest.fixture(scope="module")
def reference(company, tmp_path_factory):
    base = tmp_path_factory.mktemp("reference")
    _run(company, base / "run", base / "cache")
    return base / "run"


def _same_outputs(a: Path, b: Path) -> None:
    for name in STABLE_JSON:
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text()), name
    for name in STABLE_PARQUET:
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name), obj=name)
    assert (b / "report.html").read_text().rstrip().endswith("</html>")


@pytest.mark.parametrize("stage", ["sentiment", "propose", "report"])
def test_killed_run_restarts_to_the_same_outputs(company, reference, tmp_path, stage):
    out, cache = tmp_path / "run", tmp_path / "cache"
    _kill_at(company, out, cache, stage)
    # a killed run never looks finished: run.json, written last, is absent (a kill that lands after
    # the last write of a small run finds it finished: then every file must be whole)
    if (out / "run.json").exists():
        assert stage == "report"
        _same_outputs(reference, out)

    # a kill after run.json was written leaves a finished run: replacing it needs --force; a
    # killed run's lock (its process is gone) is taken over
    again = _run(company, out, cache, force=(out / "run.json").exists())
    manifest = json.loads((out / "run.json").read_text())
    # the embeddings computed before the kill came from the cache
    assert manifest["embedding_cache"]["documents"]["computed"] == 0, again.stderr[-2000:]
    _same_outputs(reference, out)
    assert not list(out.glob(".*.tmp")), "temporary files of the killed run were left behind"


def test_a_finished_run_killed_while_rerunning_keeps_complete_files(company, reference, tmp_path):
    """Re-running over a finished folder and dying while writing never leaves a truncated file behind."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    _run(company, out, cache)
    _kill_at(company, out, cache, "report", force=True)
    for name in (*STABLE_JSON, "run.json"):
        if (out / name).exists():
            json.loads((out / name).read_text())  # whole JSON, old or new, never half
    for name in STABLE_PARQUET:
        if (out / name).exists():
            pd.read_parquet(out / name)
    _run(company, out, cache, force=(out / "run.json").exists())
    _same_outputs(reference, out)
