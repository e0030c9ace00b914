"""A whole cycle (hashing embedder) on an export with skipped ratings and day-first dates (issue 29, points 3-4):
every comment reaches themes and sentiment, the missing scores are counted in run.json, the period is right."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from refine.cli.main import app

PHRASES = [
    "the parcel arrived late and the courier never called",
    "checkout keeps failing when I pay by card",
    "friendly staff in the store helped me choose",
    "the app crashes every time I open my basket",
]


def test_skipped_ratings_and_day_first_dates_through_a_cycle(tmp_path, hashing_model):
    rng = np.random.default_rng(7)
    n_customers, n_comments = 400, 240
    pd.DataFrame(
        {"cid": [f"C{i:04d}" for i in range(n_customers)], "tier": rng.choice(["Gold", "Silver"], n_customers)}
    ).to_csv(tmp_path / "customers.csv", index=False)
    scores = [str(s) for s in rng.integers(1, 6, n_comments)]
    skipped = rng.choice(n_comments, 60, replace=False)
    for k, i in enumerate(skipped):
        scores[i] = ["N/A", "", "-", "?"][k % 4]
    day = rng.integers(1, 31, n_comments)
    pd.DataFrame(
        {
            "cid": [f"C{i:04d}" for i in rng.choice(n_customers, n_comments, replace=False)],
            "comment": [f"{PHRASES[i % 4]} (note {i})" for i in range(n_comments)],
            "rating": scores,
            "submitted": [f"{d:02d}/11/2026 10:{i % 60:02d}" for i, d in enumerate(day)],
        }
    ).to_csv(tmp_path / "feedback.csv", index=False)
    (tmp_path / "refine.toml").write_text(
        '[feedback]\ncustomer_id = "cid"\ntext = "comment"\nscore = "rating"\nscore_kind = "stars"\n'
        'timestamp = "submitted"\n[customers]\ncustomer_id = "cid"\nsegment = "tier"\n'
    )
    args = ["run", "--feedback", "feedback.csv", "--customers", "customers.csv", "--config", "refine.toml"]
    result = CliRunner().invoke(
        app,
        [
            *[str(tmp_path / a) if a.endswith((".csv", ".toml")) else a for a in args],
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    feedback = pd.read_parquet(tmp_path / "run" / "feedback.parquet")
    assert len(feedback) == n_comments and int(feedback["score"].isna().sum()) == 60
    missing = feedback[feedback["score"].isna()]
    assert missing["sentiment_label"].notna().all() and (missing["topic_id"] >= 0).any()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["counts"]["feedback_score_missing"] == 60 and run["counts"]["feedback_rejected"] == 0
    assert any(
        "45 feedback rows have a score that is skipped (N/A, -, ?)" in w for w in run["warnings"]
    )  # 15 empty: counted only
    stamps = pd.to_datetime(feedback["timestamp"], utc=True)
    assert stamps.min() >= pd.Timestamp("2026-11-01", tz="UTC") and stamps.max() < pd.Timestamp("2026-12-01", tz="UTC")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "January" not in report.split("Run of")[0], report[:300]
    assert "November 2026" in report.split("Run of")[0], report[:300]
