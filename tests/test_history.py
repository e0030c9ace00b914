"""Two monthly cycles through the pipeline (hashing embedder): insights.json, the report's new section, refine history."""

import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.demo.company import generate_company, write_demo_data
from refine.insights.stage import read_insights
from refine.io.config import load_config
from refine.run.cycle import run_cycle


@pytest.fixture(scope="module")
def two_cycles(tmp_path_factory, fake_embedder):
    root = tmp_path_factory.mktemp("cycles")
    results = []
    for month in (1, 2):
        paths = write_demo_data(
            root / f"data{month}", generate_company(seed=month, n_customers=700, response_rate=0.35)
        )
        text = (
            paths["config"]
            .read_text()
            .replace('exclude = ["contact_email"]', 'exclude = ["contact_email"]\nvalue = "revenue_12m"')
        )
        paths["config"].write_text(text)
        previous = root / "runs" / "2024-05" if month == 2 else None
        results.append(
            run_cycle(
                paths["feedback"],
                paths["customers"],
                load_config(paths["config"]),
                root / "runs" / f"2024-0{4 + month}",
                previous=previous,
                quiet=True,
                embedder=fake_embedder,
            )
        )
    return root, results


def test_second_cycle_attributes_the_score_change_and_tests_what_is_new(two_cycles):
    root, (first, second) = two_cycles
    assert first.insights.attribution is None and first.insights.what_is_new is None
    stored = read_insights(second.out_dir)
    a = stored.attribution
    assert a is not None and a.kind == "nps"
    assert sum(c.total for c in a.contributions) == pytest.approx(a.score_now - a.score_before, abs=1e-6)
    assert stored.what_is_new is not None and stored.what_is_new.cycles_before == 1
    assert stored.drivers.for_measure("score") and stored.value.column == "revenue_12m"
    assert stored.value.total_value == pytest.approx(second.customers["revenue_12m"].sum())
    html = (second.out_dir / "report.html").read_text()
    assert 'id="insights"' in html and 'aria-label="Score change by theme"' in html and "Theme drivers" in html
    assert "What it is worth (revenue_12m)" in html
    md = (second.out_dir / "report.md").read_text()
    assert "## What moved the score" in md


def test_history_prints_the_trend_and_draws_it(two_cycles, tmp_path):
    root, (first, second) = two_cycles
    chart = tmp_path / "trend.html"
    result = CliRunner().invoke(app, ["history", str(root / "runs"), "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    assert "2024-05" in result.output and "trend" in result.output and "score" in result.output
    page = chart.read_text()
    assert page.count("<svg") == 3 and "What each cycle found new" in page
    assert "insights.json" in page  # the second cycle's shifts come from its own run


def test_a_run_without_a_value_column_reads_as_before(two_cycles, tmp_path):
    import dataclasses

    from refine.insights.stage import compute_insights
    from refine.report.render import write_report

    root, (first, _) = two_cycles
    config = load_config(root / "data1" / "refine.toml")
    config.customers.value = ""
    insights = compute_insights(first.feedback, first.customers, config, first.topics, first.proposals)
    assert insights.value is None and insights.to_json()["value"] is None
    write_report(dataclasses.replace(first, out_dir=tmp_path, insights=insights))
    html = (tmp_path / "report.html").read_text()
    assert "What it is worth" not in html and 'id="insights"' in html


def test_a_cycle_without_scores_notes_why_the_change_is_not_attributed(two_cycles):
    from refine import schemas as S
    from refine.insights.stage import compute_insights

    root, (first, second) = two_cycles
    config = load_config(root / "data2" / "refine.toml")
    unscored = second.feedback.assign(**{S.SCORE: float("nan")})
    insights = compute_insights(
        unscored, second.customers, config, second.topics, second.proposals, previous=first.out_dir
    )
    assert insights.attribution is None
    assert "score change not attributed: a cycle has no scored comment" in (insights.notes or [])
