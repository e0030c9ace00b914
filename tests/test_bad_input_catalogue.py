"""What refine refuses, and why: one row per bad input, the one-line message it gets, the exit code.

Inputs that are bad row by row (blank text, unknown customer, duplicate id, ragged row, ...)
are not refused: those rows are counted in rejects.csv with their reason (see tests/test_ingest.py).
The README links here as the list of what refine refuses.
"""

import json
import os
import re
import socket
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.io.runs import proposal_digest

runner = CliRunner()

CONFIG = """[feedback]
customer_id = "Member No"
text = "Comment Text"
[customers]
customer_id = "Member No"
segment = "Tier Name"
outcomes = ["churned"]
"""
CUSTOMERS = "Member No,Tier Name,churned\n1,Gold,0\n2,Silver,1\n"
FEEDBACK = "Member No,Comment Text\n1,Parcel was late\n"
# `refine ab analyze` rows (a row whose args start with "ab" runs that command instead of `refine run`)
AB_DATA = "user,group,converted,nps\n01,control,1,\n02,treatment,0,\n03,control,0,\n04,treatment,1,\n05,contrl,1,\n"
AB = ["ab", "analyze", "--data", "ab.csv", "--unit", "user", "--arm", "group", "--control", "control", "--out", "ab"]

# a lock held by this (live) process, and a folder no process may write in (/sys, even as root; elsewhere a
# read-only folder made by the test)
LIVE_LOCK = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-12-01T09:00:00+00:00"})
UNWRITABLE = "/sys/refine-run" if Path("/sys").is_dir() else "read-only/run"

# a finished month's run folder ("month/"): two merges sharing Bronze, one of them unconfirmed, with the digests
# refine records in run.json; `refine accept` rows start with "accept" and run that command
DECIDED = [
    {"id": "merge-bg", "kind": "merge", "segments": ["Bronze", "Gold"], "rule": 'Tier in ["Bronze", "Gold"]'},
    {"id": "merge-bp", "kind": "merge", "segments": ["Bronze", "Platinum"], "rule": 'Tier in ["Bronze", "Platinum"]'},
    {"id": "merge-sx", "kind": "merge", "segments": ["Silver", "Tin"], "rule": 'Tier in ["Silver", "Tin"]'},
]
MONTH = {
    "month/run.json": json.dumps(
        {
            "refine_version": "0.3.1",
            "started": "2026-11-01",
            "config": {
                "feedback": {"customer_id": "Member No", "text": "Comment Text"},
                "customers": {"customer_id": "Member No", "segment": "Tier", "outcomes": ["churned"]},
            },
            "rule_digests": {p["id"]: proposal_digest(p["id"], p["kind"], p["segments"], p["rule"]) for p in DECIDED},
        }
    ),
    "month/proposals.json": json.dumps(
        {
            "proposals": [
                dict(p, rank=i + 1, confirmed=p["id"] != "merge-sx", evidence={"why_not": "churned differs"})
                for i, p in enumerate(DECIDED)
            ]
        }
    ),
}
ACCEPTED_BG = {"month/decisions.json": json.dumps({"decisions": [{"proposal": "merge-bg", "decision": "accepted"}]})}
EDITED = json.loads(MONTH["month/proposals.json"])
EDITED["proposals"][0]["rule"] = 'Tier in ["Bronze", "Gold", "Silver"]'

# (case, files to write {name: content or bytes}, extra CLI args, message fragment, exit code)
CATALOGUE = [
    ("config file missing", {}, ["--config", "absent.toml"], "config file not found", 2),
    ("config not TOML", {"refine.toml": "[feedback"}, [], "not valid TOML", 2),
    ("unknown config key", {"refine.toml": CONFIG + "colour = 1\n"}, [], "unknown key 'colour' in [customers]", 2),
    ("unknown config section", {"refine.toml": CONFIG + "[extra]\n"}, [], "unknown section [extra]", 2),
    ("wrong type in config", {"refine.toml": CONFIG + '[proposals]\nalpha = "low"\n'}, [], "alpha must be a number", 2),
    (
        "required key missing",
        {"refine.toml": '[feedback]\ntext = "Comment Text"\n'},
        [],
        "[feedback] customer_id is required",
        2,
    ),
    ("feedback file missing", {"feedback.csv": None}, [], "feedback file not found", 2),
    (
        "feedback column missing",
        {"feedback.csv": "Member No,Body\n1,late\n"},
        [],
        "column 'Comment Text' ([feedback] text) is not in the feedback file",
        2,
    ),
    (
        "customer column missing",
        {"customers.csv": "Member No,Tier\n1,Gold\n"},
        [],
        "column 'Tier Name' ([customers] segment) is not in the customers file",
        2,
    ),
    (
        "outcome not numeric",
        {"customers.csv": "Member No,Tier Name,churned\n1,Gold,yes please\n"},
        [],
        "outcome column 'churned' must be numeric",
        2,
    ),
    (
        "unsupported file type",
        {"feedback.xlsx": b"PK\x03\x04"},
        ["--feedback", "feedback.xlsx"],
        "unsupported file type '.xlsx'",
        2,
    ),
    (
        "corrupt parquet",
        {"feedback.parquet": b"not parquet"},
        ["--feedback", "feedback.parquet"],
        "cannot read feedback file",
        2,
    ),
    ("empty feedback file", {"feedback.csv": ""}, [], "file is empty", 2),
    (
        "no usable feedback rows",
        {"feedback.csv": "Member No,Comment Text\n9,unknown customer\n1,\n"},
        [],
        "no usable feedback rows",
        2,
    ),
    (
        "no usable customers",
        {"customers.csv": "Member No,Tier Name,churned\n,Gold,0\n"},
        [],
        "no usable customer rows: 1 rows rejected (1 missing customer id)",
        2,
    ),
    (
        "ids match nowhere: leading zeros",
        {"feedback.csv": "Member No,Comment Text\n0001,Parcel was late\n0002,Rude staff\n"},
        [],
        "2 feedback rows (2 distinct customer ids) match no customer id (feedback ids look like 00••, 00••; "
        "customer ids look like 1, 2); likely cause: leading zeros",
        2,
    ),
    (
        "ids match nowhere: a prefix",
        {"feedback.csv": "Member No,Comment Text\nCUST-1,Parcel was late\n"},
        [],
        "likely cause: a prefix on one side",
        2,
    ),
    (
        "ids match nowhere: no simple cause",
        {"feedback.csv": "Member No,Comment Text\nx7,Parcel was late\n"},
        [],
        "no simple difference (leading zeros, a prefix, a number read as text, whitespace, case) makes them match",
        2,
    ),
    (
        "infinite outcome",
        {"customers.csv": "Member No,Tier Name,churned\n1,Gold,inf\n2,Silver,1\n"},
        [],
        "outcome column 'churned' holds an infinite value",
        2,
    ),
    ("empty customers file", {"customers.csv": ""}, [], "customers.csv: customers file is empty", 2),
    (
        "text mapped to the id column",
        {"refine.toml": CONFIG.replace('text = "Comment Text"', 'text = "Member No"', 1)},
        [],
        "[feedback] text and [feedback] customer_id both name 'Member No'",
        2,
    ),
    (
        "text mapped to a number column",
        {
            "refine.toml": CONFIG.replace('text = "Comment Text"', 'text = "rating"', 1),
            "feedback.csv": "Member No,Comment Text,rating\n1,Parcel was late,4\n2,Rude staff,1\n",
        },
        [],
        "[feedback] text 'rating' holds numbers, not comments",
        2,
    ),
    (
        "scores outside the configured scale",
        {
            "refine.toml": CONFIG.replace(
                'text = "Comment Text"\n', 'text = "Comment Text"\nscore = "rating"\nscore_kind = "stars"\n'
            ),
            "feedback.csv": "Member No,Comment Text,rating\n1,Parcel was late,9\n2,Rude staff,10\n1,Fine,4\n",
        },
        [],
        "score column 'rating': 2 of its 3 scores lie outside the scale 1-5 (stars); they run from 4 to 10",
        2,
    ),
    (
        "bad timestamp_format",
        {
            "refine.toml": CONFIG.replace(
                'text = "Comment Text"\n', 'text = "Comment Text"\ntimestamp = "at"\ntimestamp_format = "%d/%m/%Q"\n'
            ),
            "feedback.csv": "Member No,Comment Text,at\n1,Parcel was late,01/11/2026\n",
        },
        [],
        "[feedback] timestamp_format '%d/%m/%Q' is not a date pattern",
        2,
    ),
    ("config path is a folder", {"cfg/notes.txt": "x"}, ["--config", "cfg"], "config path is a folder", 2),
    (
        "segment column excluded",
        {"refine.toml": CONFIG + 'exclude = ["Tier Name"]\n'},
        [],
        "exclude names 'Tier Name', the segment column",
        2,
    ),
    (
        "setting not finite",
        {"refine.toml": CONFIG + "[proposals]\nmin_effect = nan\n"},
        [],
        "min_effect must be a finite number",
        2,
    ),
    (
        "setting out of range",
        {"refine.toml": CONFIG.replace('text = "Comment Text"', 'text = "Comment Text"\nmax_text_chars = 0')},
        [],
        "max_text_chars must be at least 20, got 0",
        2,
    ),
    ("output path is a file", {"out.txt": "mine"}, ["--out", "out.txt"], "the output path is a file", 2),
    ("output folder inside a file", {"out.txt": "mine"}, ["--out", "out.txt/run"], "out.txt is a file", 2),
    (
        "output folder holds other files",
        {"mine/notes.txt": "mine"},
        ["--out", "mine"],
        "holds files refine did not write ('notes.txt')",
        2,
    ),
    (
        "output folder reached through ..",
        {"mine/notes.txt": "mine"},
        ["--out", "nothere/../mine"],
        "holds files refine did not write ('notes.txt')",
        2,
    ),
    ("output folder holds decisions", {"old/decisions.json": "{}"}, ["--out", "old"], "holds decisions", 2),
    # issue 28, point 3: a finished run is replaced with --force only; a running cycle's folder never
    (
        "output folder holds a finished run",
        {"old/run.json": "{}", "old/report.md": "old"},
        ["--out", "old"],
        "holds an earlier run; pass --force to replace it",
        2,
    ),
    (
        "output folder held by a running cycle",
        {"busy/.refine.lock": LIVE_LOCK},
        ["--out", "busy", "--force", ""],
        "another refine run is writing this folder",
        2,
    ),
    (
        "previous is the folder being replaced",
        {"old/run.json": "{}", "old/topics.json": "{}"},
        ["--out", "old", "--previous", "old", "--force", ""],
        "--previous is the folder this run would write",
        2,
    ),
    # issue 28, point 7: an output folder refine cannot write in fails before the first embedding
    ("output folder not writable", {}, ["--out", UNWRITABLE], "cannot write the run there", 2),
    (
        "previous run is a file",
        {},
        ["--previous", "feedback.csv"],
        "--previous must be the folder of an earlier run",
        2,
    ),
    ("previous run unfinished", {"prev/topics.json": "{}"}, ["--previous", "prev"], "no run.json", 2),
    (
        "previous topics malformed",
        {"prev/topics.json": '{"topics": 5}', "prev/run.json": "{}"},
        ["--previous", "prev"],
        "not a refine topics file",
        2,
    ),
    # [limits]: what one run may cost (tests/test_limits.py runs the hostile tables themselves)
    (
        "limit set to zero",
        {"refine.toml": CONFIG + "[limits]\nmax_feedback_rows = 0\n"},
        [],
        "max_feedback_rows must be at least 1",
        2,
    ),
    (
        "too many feedback rows",
        {"refine.toml": CONFIG + "[limits]\nmax_feedback_rows = 1\n", "feedback.csv": FEEDBACK + "2,Too small\n"},
        [],
        "the feedback file has 2 rows, more than [limits] max_feedback_rows = 1",
        2,
    ),
    (
        "too many customer rows",
        {"refine.toml": CONFIG + "[limits]\nmax_customer_rows = 1\n"},
        [],
        "the customer file has 2 rows, more than [limits] max_customer_rows = 1",
        2,
    ),
    (
        "too many segments",
        {"refine.toml": CONFIG + "[limits]\nmax_segment_values = 1\n"},
        [],
        "the segment column 'Tier Name' holds 2 distinct segments, more than [limits] max_segment_values = 1",
        2,
    ),
    (
        "too many attribute columns",
        {
            "refine.toml": CONFIG + "[limits]\nmax_attributes = 1\n",
            "customers.csv": "Member No,Tier Name,churned,region,plan\n1,Gold,0,west,a\n2,Silver,1,east,b\n",
        },
        [],
        "2 attribute columns, more than [limits] max_attributes = 1",
        2,
    ),
    (
        "too many levels in an attribute",
        {
            "refine.toml": CONFIG + "[limits]\nmax_attribute_levels = 1\n",
            "customers.csv": "Member No,Tier Name,churned,region\n1,Gold,0,west\n2,Silver,1,east\n",
        },
        [],
        "column 'region' has 2 distinct values, more than [limits] max_attribute_levels = 1",
        2,
    ),
    (
        "cache folder is a file",
        {"cache.bin": "x", "refine.toml": CONFIG + '[run]\ncache_dir = "cache.bin"\n'},
        [],
        "the cache folder is a file",
        2,
    ),
    (
        "A/B primary metric with no values",
        {"ab.csv": AB_DATA},
        [*AB, "--metrics", "nps"],
        "primary metric 'nps' has no value for any unit (column 'nps' in data file ab.csv has no values)",
        2,
    ),
    (
        "A/B --arm-map to an arm that is not known",
        {"ab.csv": AB_DATA},
        [*AB, "--metrics", "converted", "--arm-map", "contrl=contol"],
        "--arm-map maps 'contrl' to 'contol', which is not a known arm",
        2,
    ),
    (
        "A/B --arm-map of a label not in the data",
        {"ab.csv": AB_DATA},
        [*AB, "--metrics", "converted", "--arm-map", "ctl=control"],
        "--arm-map names 'ctl', which is not a value of column 'group'",
        2,
    ),
    (
        "A/B --arm-map without =",
        {"ab.csv": AB_DATA},
        [*AB, "--metrics", "converted", "--arm-map", "contrl"],
        "--arm-map 'contrl' must be LABEL=ARM",
        2,
    ),
    (
        "accept a proposal the holdout did not confirm",
        MONTH,
        ["accept", "merge-sx", "--run", "month"],
        "proposal merge-sx is not confirmed: churned differs; pass --force to accept it anyway",
        2,
    ),
    (
        "accept a merge sharing a segment with an accepted merge",
        {**MONTH, **ACCEPTED_BG},
        ["accept", "merge-bp", "--run", "month"],
        "conflicts with accepted proposal merge-bg (merge): both change segment 'Bronze'",
        2,
    ),
    (
        "accept a proposal whose rule was edited in proposals.json",
        {**MONTH, "month/proposals.json": json.dumps(EDITED)},
        ["accept", "merge-bg", "--run", "month"],
        "proposals.json was edited after the run: proposal merge-bg differs from the one the run wrote",
        2,
    ),
]


@pytest.mark.parametrize("case, files, args, fragment, code", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_refused_with_one_line(tmp_path, monkeypatch, case, files, args, fragment, code):
    monkeypatch.chdir(tmp_path)
    contents = {"refine.toml": CONFIG, "customers.csv": CUSTOMERS, "feedback.csv": FEEDBACK, **files}
    for name, content in contents.items():
        if content is None:
            continue
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    base = {"--feedback": "feedback.csv", "--customers": "customers.csv", "--config": "refine.toml", "--out": "run"}
    if not Path("/sys").is_dir():  # the "not writable" case elsewhere: a read-only folder
        (tmp_path / "read-only").mkdir(mode=0o555)
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    options = [x for pair in base.items() for x in pair if x != ""]  # a flag with "" is a switch (--force)
    command = args if args[:1] in (["ab"], ["accept"]) else ["run", "--quiet", *options]
    result = runner.invoke(app, command)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert fragment in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "run.json").exists() and not (tmp_path / "ab" / "ab_report.json").exists()
    if "not found" not in lines[0]:  # every file a message names exists (but one it says is missing: "no run.json")
        names = re.findall(r"(?<!no )\b[\w./-]+\.(?:csv|json|toml|parquet)\b", lines[0])
        # relative to the working folder, or to a folder the message names ("prev/...: topics.json")
        for named in names:
            folders = [Path(other).parent for other in [named, *names]] + [Path()]  # or the working folder itself
            assert any((tmp_path / folder / named).is_file() for folder in folders), named
    rejects = tmp_path / "run" / "rejects.csv"
    if "rows rejected" in lines[0]:  # a run stopped for lack of usable rows: rejects.csv accounts for every row
        assert "run/rejects.csv" in lines[0]
        written = pd.read_csv(rejects, dtype=str, keep_default_na=False)
        for table in ("feedback", "customers"):
            data = (tmp_path / f"{table}.csv").read_text().splitlines()[1:]
            accepted = 0 if f"no usable {table.rstrip('s')} rows" in lines[0] else len(data)
            if table == "feedback" and "no usable customer rows" in lines[0]:
                continue  # the run stopped before the feedback was read
            assert accepted + int((written["table"] == table).sum()) == len(data), (table, written)
