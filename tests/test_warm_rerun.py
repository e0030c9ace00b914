"""Issue 32 point 3, warm reruns: the fixed costs (ingest and join input, the insights stage) come from the
stage cache (refine.memo) keyed by the inputs' content, give byte-identical outputs, and never hold an e-mail,
phone or card number of the customer table."""

from __future__ import annotations

import json
import struct

import pandas as pd
import pytest

from refine.demo.company import generate_company, write_demo_data
from refine.io.config import load_config
from refine.run.cycle import run_cycle
from refine.run.reuse import _holds_personal_data

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
    assert cold["stage_cache"]["insights"] == cold["stage_cache"]["ingest"] == "computed"
    assert warm["stage_cache"]["insights"] == warm["stage_cache"]["ingest"] == "reused"
    for name in SAME:
        assert (tmp_path / "cold" / name).read_bytes() == (tmp_path / "warm" / name).read_bytes(), name
    assert cold["counts"] == warm["counts"] and cold["inputs"] == warm["inputs"]
    assert cold["warnings"] == warm["warnings"]


def test_ingest_comes_from_the_cache_keyed_by_the_files_content(demo, tmp_path):
    cold = _run(demo, tmp_path / "cold")
    warm = _run(demo, tmp_path / "warm")
    assert (cold["stage_cache"]["ingest"], warm["stage_cache"]["ingest"]) == ("computed", "reused")
    # one changed byte in the customer file: read again
    path = demo["customers"]
    path.write_text(path.read_text().replace(",north,", ",North,", 1))
    changed = _run(demo, tmp_path / "changed")
    assert changed["stage_cache"]["ingest"] == "computed"
    assert changed["inputs"]["customers"]["sha256"] != cold["inputs"]["customers"]["sha256"]


def _cache_bytes(root):
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_contact_columns_never_reach_the_cache(demo, tmp_path):
    frame = pd.read_csv(demo["customers"], dtype=str, keep_default_na=False)
    # an attribute column the config does not exclude, full of e-mails and phone numbers (not searched)
    frame.insert(3, "contact", [f"jo.{i}@mailbox.example or +44 20 7946 {i:04d}" for i in range(len(frame))])
    frame.to_csv(demo["customers"], index=False)
    cold = _run(demo, tmp_path / "cold")
    warm = _run(demo, tmp_path / "warm")
    assert warm["stage_cache"]["ingest"] == "reused"
    for name in SAME:
        assert (tmp_path / "cold" / name).read_bytes() == (tmp_path / "warm" / name).read_bytes(), name
    stored = _cache_bytes(tmp_path / "cache")
    assert b"@mailbox.example" not in stored and b"7946" not in stored and b"jo.1" not in stored
    skipped = {c["column"]: c["reason"] for c in warm["proposal_method"]["skipped_columns"]}
    # read again from the file, not the cache (a column of phone numbers and e-mails: "holds phone numbers")
    assert skipped["contact"] == "holds phone numbers: not searched"
    assert cold["proposal_method"] == warm["proposal_method"]


def test_an_entry_with_an_email_in_a_searched_column_is_not_stored(demo, tmp_path):
    frame = pd.read_csv(demo["customers"], dtype=str, keep_default_na=False)
    frame.loc[5, "region"] = "bob@mailbox.example"  # a stray address in a category column the search reads
    frame.to_csv(demo["customers"], index=False)
    _run(demo, tmp_path / "cold")
    warm = _run(demo, tmp_path / "warm")
    assert warm["stage_cache"]["ingest"] == "computed"  # nothing stored: read again
    assert b"bob@mailbox.example" not in _cache_bytes(tmp_path / "cache")


def test_insights_against_a_previous_run_are_keyed_by_its_files(demo, tmp_path):
    _run(demo, tmp_path / "last")
    config = load_config(demo["config"])

    def run(out):
        run_cycle(demo["feedback"], demo["customers"], config, out, previous=tmp_path / "last", quiet=True)
        return json.loads((out / "run.json").read_text())["stage_cache"]["insights"]

    assert run(tmp_path / "now") == "computed"
    assert run(tmp_path / "again") == "reused"
    assert (tmp_path / "now" / "insights.json").read_bytes() == (tmp_path / "again" / "insights.json").read_bytes()
    manifest = tmp_path / "last" / "run.json"
    manifest.write_text(manifest.read_text() + "\n")  # another byte in last month's run: compared again
    assert run(tmp_path / "third") == "computed"


def test_a_contact_number_in_a_numeric_column_never_reaches_the_cache(demo, tmp_path):
    frame = pd.read_csv(demo["customers"], dtype=str, keep_default_na=False)
    # a phone number held as a number: the column is numeric, not id-like (not searched: it holds phone numbers)
    numbers = [4155550132 + 7 * i for i in range(len(frame))]
    frame.insert(3, "contact", [str(n) for n in numbers])
    frame.to_csv(demo["customers"], index=False)
    cold = _run(demo, tmp_path / "cold")
    warm = _run(demo, tmp_path / "warm")
    assert cold["stage_cache"]["ingest"] == warm["stage_cache"]["ingest"] == "computed"  # nothing stored
    stored = _cache_bytes(tmp_path / "cache")
    for number in (numbers[0], numbers[-1], numbers[len(numbers) // 2]):
        assert str(number).encode() not in stored
        assert struct.pack("<q", number) not in stored and struct.pack("<d", float(number)) not in stored
    for name in SAME:
        assert (tmp_path / "cold" / name).read_bytes() == (tmp_path / "warm" / name).read_bytes(), name


@pytest.mark.parametrize(
    "cell",
    [
        "415_555_0132",  # separators the redaction knows: underscore, dashes, minus, middle dot
        "415\u2013555\u20130132",
        "415\u00b7555\u00b70132",
        "415\u200b555\u200b0132",  # an invisible character inside the number
        "jo\uff20mailbox.example",  # a full-width at sign
        "4111 1111 1111 1111",
    ],
)
def test_the_personal_data_check_sees_every_spelling_the_redaction_knows(cell):
    frame = pd.DataFrame({"region": ["north", cell], "spend": [12.5, 40.0]})
    document = {"warnings": [], "attributes": ["region", "spend"], "columns": ["region", "spend"]}
    assert _holds_personal_data(document, {"customers": frame})
    assert not _holds_personal_data(document, {"customers": frame.assign(region=["north", "south"])})


@pytest.mark.parametrize("value", [4155550132, 4155550132.0, 4111111111111111])
def test_the_personal_data_check_sees_numbers(value):
    frame = pd.DataFrame({"contact": [value, value]})
    document = {"warnings": [], "attributes": ["contact"], "columns": ["contact"]}
    assert _holds_personal_data(document, {"customers": frame})
    assert not _holds_personal_data(document, {"customers": pd.DataFrame({"contact": [12.5, 415555.0]})})
    # refine's own row numbers are not a cell: a file past a million rows is still cached
    rows = pd.DataFrame({"row": [1_000_001, 4_155_550_132], "score": [9.0, 3.0]})
    assert not _holds_personal_data(document, {"feedback": rows, "rejects": rows[["row"]]})


def test_the_ingest_key_covers_every_module_that_shapes_the_entry(demo, monkeypatch):
    """A change to how dates are read, to the column names or to this cache's own format is a new key: an
    entry written by other code is never read back."""
    import refine.run.reuse as reuse

    seen: list[str] = []
    monkeypatch.setattr(reuse, "code_digest", lambda *modules: seen.extend(m.__name__ for m in modules) or "x")
    assert reuse.ingest_key(demo["feedback"], demo["customers"], load_config(demo["config"]), {}) is not None
    wanted = {"refine.io.ingest", "refine.io.dates", "refine.io.keys", "refine.io.privacy", "refine.schemas"}
    assert wanted | {"refine.run.reuse"} <= set(seen)


def test_the_propose_key_covers_every_segments_module_the_search_imports():
    """A stored search is reused only while the code that made it is unchanged: parent-theme mentions
    (refine.segments.profiles) and merge groups (refine.segments.merges) are part of that code."""
    import ast
    import inspect
    import textwrap

    import refine.run.cycle as cycle
    import refine.segments.propose as propose

    tree = ast.parse(inspect.getsource(propose))
    imported = {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("refine.")
    }
    stage = ast.parse(textwrap.dedent(inspect.getsource(cycle.propose_stage)))
    call = next(n for n in ast.walk(stage) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "code_digest")
    keyed = {getattr(cycle, arg.id).__name__ for arg in call.args}
    assert {m for m in imported if m.startswith("refine.segments")} <= keyed
