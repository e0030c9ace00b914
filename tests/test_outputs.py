"""No user file is overwritten without --force, no output is written onto an input, and a run folder is held
by one running cycle at a time (issue 28, points 3 and 7): refine.io.outputs and each command that writes.

Runs use the hashing embedder (no model load); the checks that must come before the expensive work use an
embedder that fails the test if it is ever asked for a vector.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.demo.company import generate_company, write_demo_data
from refine.errors import RefineError
from refine.io.config import load_config
from refine.io.outputs import LOCK_FILE, check_output_file, folder_lock, same_file
from refine.run.cycle import run_cycle
from refine.text.embed import HashingEmbedder

runner = CliRunner()


class NoEmbedding(HashingEmbedder):
    """Fails the test when asked for a vector: whatever refuses must refuse before the first embedding."""

    def encode(self, texts, *args, **kwargs):
        raise AssertionError("an embedding was computed before the check that should have stopped the run")


class Interrupting(HashingEmbedder):
    def encode(self, texts, *args, **kwargs):
        raise KeyboardInterrupt


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs-data")
    return write_demo_data(out, generate_company(seed=5, n_customers=600, response_rate=0.3))


@pytest.fixture
def hashing(monkeypatch):
    """`refine run` on the CLI with the hashing embedder in place of the model."""
    import refine.text.embed as embed

    monkeypatch.setattr(
        embed, "build_embedder", lambda model, *, cache_dir, **_: embed.CachedEmbedder(HashingEmbedder(), cache_dir)
    )


def run_args(company, out, *extra):
    return [
        "run",
        "--quiet",
        "--feedback",
        str(company["feedback"]),
        "--customers",
        str(company["customers"]),
        "--config",
        str(company["config"]),
        "--out",
        str(out),
        *extra,
    ]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.name: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()
    }


def one_line_error(result, fragment: str, where: Path | str) -> None:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert fragment in lines[0] and str(where) in lines[0], lines[0]


def cycle(company, out, *, embedder=None, **options):
    """One run on the small company with the hashing embedder (or `embedder`)."""
    config = load_config(company["config"])
    return run_cycle(
        company["feedback"], company["customers"], config, out, embedder=embedder or HashingEmbedder(), quiet=True,
        **options,
    )  # fmt: skip


@pytest.fixture(scope="module")
def finished(company, tmp_path_factory):
    out = tmp_path_factory.mktemp("outputs-run") / "2026-11"
    cycle(company, out)
    return out


# ---- run folders -----------------------------------------------------------------------------------


def test_a_finished_run_is_replaced_with_force_only_and_then_whole(company, tmp_path):
    out = tmp_path / "2026-11"
    cycle(company, out)
    assert not (out / LOCK_FILE).exists()
    before = snapshot(out)
    again = runner.invoke(app, run_args(company, out))
    one_line_error(again, "holds an earlier run; pass --force to replace it", out)
    assert snapshot(out) == before  # untouched, to the inode
    with pytest.raises(RefineError, match="pass --force"):
        cycle(company, out, embedder=NoEmbedding())
    cycle(company, out, force=True)
    after = snapshot(out)
    # no file of the old run survives: every file left was written by the forced run
    assert not any(after[name][1:] == before[name][1:] for name in set(after) & set(before))
    assert "run.json" in after and not (out / LOCK_FILE).exists()


def test_previous_is_never_the_folder_being_replaced(company, finished):
    with pytest.raises(RefineError, match="--previous is the folder this run would write"):
        cycle(company, finished, embedder=NoEmbedding(), force=True, previous=finished)


def test_a_forced_run_removes_the_old_files_it_does_not_write_again(company, finished, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("run.json", "insights.json", "report.md"):
        (out / name).write_text("{}" if name.endswith(".json") else "old report")
    old = snapshot(out)
    cycle(company, out, force=True)
    new = snapshot(out)
    assert all(new[name][1:] != old[name][1:] for name in set(new) & set(old))
    assert json.loads((out / "run.json").read_text())["finished"]


def test_an_unfinished_run_is_resumed_without_force(company, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "feedback.parquet").write_bytes(b"half")  # a run killed while writing: no run.json
    cycle(company, out)
    assert (out / "run.json").exists()


def test_a_live_lock_refuses_at_once_even_with_force(company, tmp_path, hashing):
    out = tmp_path / "run"
    out.mkdir()
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-12-01T09:00:00+00:00"}
    (out / LOCK_FILE).write_text(json.dumps(holder))
    started = time.perf_counter()
    result = runner.invoke(app, run_args(company, out, "--force"))
    assert time.perf_counter() - started < 1.0
    one_line_error(result, f"another refine run is writing this folder (pid {os.getpid()}", out)
    assert json.loads((out / LOCK_FILE).read_text()) == holder  # someone else's lock stays
    with pytest.raises(RefineError, match="another refine run"):
        cycle(company, out, embedder=NoEmbedding())


def gone_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_stale_lock_is_taken_over_and_the_lock_goes_after_the_run(company, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": gone_pid(), "host": socket.gethostname(), "started": "x"}))
    cycle(company, out)
    assert (out / "run.json").exists() and not (out / LOCK_FILE).exists()


def test_the_lock_goes_after_an_interrupted_run(company, tmp_path):
    out = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        cycle(company, out, embedder=Interrupting())
    assert not out.exists()  # the folder it made, and left empty, is gone with the lock
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(KeyboardInterrupt):
        cycle(company, existing, embedder=Interrupting())
    assert list(existing.iterdir()) == []


# `refine run` in a process of its own, with an embedder slow enough to be stopped while it embeds
SLOW = (
    "import time, refine.text.embed as e\n"
    "class Slow(e.HashingEmbedder):\n"
    "    def encode(self, texts, *a, **k):\n"
    "        time.sleep(60)\n"
    "e.build_embedder = lambda model, *, cache_dir, **_: Slow()\n"
    "from refine.cli.main import main; main()\n"
)


def test_sigterm_releases_the_lock(company, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-c", SLOW, *run_args(company, out)[:1], *run_args(company, out)[2:]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "REFINE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stderr:
            if line.startswith("- embed"):
                assert (out / LOCK_FILE).exists()
                proc.send_signal(signal.SIGTERM)
                break
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130, rest
    finally:
        proc.kill()
        proc.wait()
    assert "interrupted" in rest
    assert not (out / LOCK_FILE).exists()


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: a read-only one, or (as root, who may write anywhere) /sys."""
    if os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no folder is read-only to this process")
        return Path("/sys/refine-run")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / "run"


def test_a_read_only_output_folder_fails_before_embedding(company, tmp_path):
    out = unwritable_folder(tmp_path)
    started = time.perf_counter()
    with pytest.raises(RefineError, match="cannot write the run there") as caught:
        cycle(company, out, embedder=NoEmbedding())
    assert time.perf_counter() - started < 1.0
    assert str(out.parent) in str(caught.value)


# ---- files a user names ----------------------------------------------------------------------------------


def test_same_file_sees_other_spellings_and_hard_links(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x")
    os.link(a, tmp_path / "b.csv")
    assert same_file(a, tmp_path / "sub" / ".." / "a.csv")
    assert same_file(a, tmp_path / "b.csv")
    assert not same_file(a, tmp_path / "c.csv")
    with pytest.raises(RefineError, match="written onto --customers, an input"):
        check_output_file(tmp_path / "b.csv", force=True, inputs={"--customers": a}, what="--out")


def test_folder_lock_is_exclusive(tmp_path):
    with folder_lock(tmp_path / "x") as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(RefineError, match="another refine run"):
            with folder_lock(tmp_path / "x"):
                pass
        assert lock.exists()
    assert not (tmp_path / "x").exists()


def test_assign_refuses_to_overwrite_and_never_writes_onto_its_input(finished, company, tmp_path):
    out = tmp_path / "assigned.csv"
    out.write_text("mine\n")
    args = ["assign", "--run", str(finished), "--customers", str(company["customers"]), "--out", str(out)]
    one_line_error(runner.invoke(app, args), "the --out file exists; pass --force", out)
    assert out.read_text() == "mine\n"
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert out.read_text() != "mine\n"
    customers = Path(company["customers"])
    before = customers.read_bytes()
    onto = ["assign", "--run", str(finished), "--customers", str(customers), "--out", str(customers), "--force"]
    one_line_error(runner.invoke(app, onto), "would be written onto --customers, an input", customers)
    assert customers.read_bytes() == before


def test_history_chart_init_and_themes_drafts_need_force(finished, tmp_path):
    chart = tmp_path / "trend.html"
    chart.write_text("keep")
    history = ["history", str(finished.parent), "--chart", str(chart)]
    one_line_error(runner.invoke(app, history), "the --chart file exists; pass --force", chart)
    assert chart.read_text() == "keep"
    assert runner.invoke(app, [*history, "--force"]).exit_code == 0 and chart.read_text() != "keep"

    config = tmp_path / "refine.toml"
    config.write_text("mine")
    one_line_error(runner.invoke(app, ["init", str(config)]), "the config template file exists", config)
    assert config.read_text() == "mine"
    assert runner.invoke(app, ["init", str(config), "--force"]).exit_code == 0 and "[feedback]" in config.read_text()

    topics = finished / "topics.json"
    before = topics.read_bytes()
    onto = ["themes", "suggest", "--run", str(finished), "--out", str(topics), "--force"]
    one_line_error(runner.invoke(app, onto), "written onto the run's topics.json, an input", topics)
    assert topics.read_bytes() == before
    draft = tmp_path / "draft.toml"
    assert runner.invoke(app, ["themes", "suggest", "--run", str(finished), "--out", str(draft)]).exit_code == 0
    again = runner.invoke(app, ["themes", "suggest", "--run", str(finished), "--out", str(draft)])
    one_line_error(again, "the draft file exists; pass --force", draft)


def test_ab_plan_and_analyze_folders_need_force(company, tmp_path):
    out = tmp_path / "plan"
    plan = [
        "ab", "plan", "--customers", str(company["customers"]), "--rule", 'Segment == "Loyal"',
        "--customer-id", "Customer ID", "--segment", "Segment", "--metric", "churned_90d", "--mde", "0.2", "--out", str(out),
    ]  # fmt: skip
    first = runner.invoke(app, plan)
    assert first.exit_code == 0, first.output
    before = snapshot(out)
    one_line_error(runner.invoke(app, plan), "holds an earlier A/B plan; pass --force", out)
    assert snapshot(out) == before
    assert runner.invoke(app, [*plan, "--force"]).exit_code == 0
    # an analysis whose --data is the report it would write: refused even with --force
    report = tmp_path / "analysis" / "ab_report.json"
    report.parent.mkdir()
    report.write_text("{}")
    analyze = ["ab", "analyze", "--data", str(report), "--unit", "u", "--arm", "a", "--control", "c", "--metrics", "m"]
    analyze += ["--out", str(report.parent)]
    one_line_error(runner.invoke(app, analyze), "holds an earlier A/B analysis; pass --force", report.parent)
    one_line_error(runner.invoke(app, [*analyze, "--force"]), "written onto --data, an input", report)
    assert report.read_text() == "{}"


# ---- rule literals through a whole cycle (point 7) -----------------------------------------------------


def test_backticks_and_quotes_in_segment_values_and_column_names_survive_a_cycle(company, tmp_path):
    import pandas as pd

    from refine.segments.rules import parse_rule

    table = pd.read_csv(company["customers"], dtype=str, keep_default_na=False)
    awkward_segment, awkward_column = 'Loyal `app` "crew"', "Channel `used` it's"
    table["Segment"] = table["Segment"].replace("Loyal", awkward_segment)
    table = table.rename(columns={"channel": awkward_column})
    table[awkward_column] = table[awkward_column].replace("app", 'the "app`')
    table.to_csv(tmp_path / "customers.csv", index=False)
    paths = {**company, "customers": tmp_path / "customers.csv"}
    result = cycle(paths, tmp_path / "run")
    rules = [parse_rule(p["rule"]) for p in json.loads((tmp_path / "run" / "proposals.json").read_text())["proposals"]]
    assert rules, "the planted structure gave no proposal"
    for rule in rules:
        assert set(rule.columns) <= set(table.columns), rule.text
        rule.mask(result.customers)  # every column it names is there
    # the merge that names the awkward segment selects exactly its customers and the other one's
    customers = result.customers
    awkward = customers["Segment"] == awkward_segment
    merges = [r for r in rules if r.mask(customers)[awkward].all()]
    assert merges, [r.text for r in rules]
    assert customers.loc[merges[0].mask(customers), "Segment"].nunique() == 2


def test_sentiment_train_and_demo_need_force_before_any_work(tmp_path):
    out = tmp_path / "head"
    out.mkdir()
    (out / "sentiment_head.npz").write_bytes(b"earlier head")
    data = tmp_path / "rated.csv"
    data.write_text("text,label\ngood,positive\n")
    train = ["sentiment", "train", "--data", str(data), "--text-col", "text", "--label-col", "label", "--out", str(out)]
    one_line_error(runner.invoke(app, train), "holds an earlier sentiment head; pass --force", out)
    (out / "sentiment_head.json").write_text("{}")
    onto = [*train[:3], str(out / "sentiment_head.json"), *train[4:], "--force"]
    one_line_error(runner.invoke(app, onto), "written onto --data, an input", out / "sentiment_head.json")
    assert (out / "sentiment_head.npz").read_bytes() == b"earlier head"

    demo = tmp_path / "demo"
    (demo / "data").mkdir(parents=True)
    (demo / "data" / "customers.csv").write_text("earlier demo")
    started = time.perf_counter()
    one_line_error(runner.invoke(app, ["demo", "--out", str(demo)]), "holds an earlier demo; pass --force", demo)
    assert time.perf_counter() - started < 1.0
    assert (demo / "data" / "customers.csv").read_text() == "earlier demo"
