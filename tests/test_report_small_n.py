"""The report cannot mislead: figures resting on few answers are marked, drivers read as associations."""

import re

import pandas as pd
import pytest

from refine.errors import RefineError
from refine.insights.charts import driver_chart
from refine.insights.drivers import Driver
from refine.io.config import config_from_dict
from refine.report.render import heatmap, impact_chart, sentiment_chart, write_report
from refine.text.themes.model import Theme
from tests.test_report import hostile_cycle


def theme(id_, label, size, sentiment):
    return Theme.from_record(
        {"id": id_, "label": label, "keywords": [], "size": size, "share": 0.1, "mean_sentiment": sentiment,
         "quotes": [], "status": "new", "centroid": [0.0]}
    )  # fmt: skip


def segments(shares):
    return pd.DataFrame(
        [
            {"segment": name, "respondents": n, "sentiment_mean": 0.2, "sentiment_ci_low": 0.1,
             "sentiment_ci_high": 0.3, "topic_0_share": share}
            for name, n, share in shares
        ]
    )  # fmt: skip


def test_a_cell_of_7_respondents_is_not_coloured_like_one_of_700():
    svg = heatmap(segments([("Big", 700, 0.4), ("Tiny", 7, 0.9)]), [theme(0, "Delivery", 300, -0.2)])
    big, tiny = re.findall(r"<rect x=[^>]*fill=\"([^\"]+)\"><title>([^<]*)</title>", svg)
    assert tiny[0] == "url(#small-n)" and "n=7: fewer than 30 respondents" in tiny[1]
    assert big[0] == "rgba(41,128,185,1.00)"  # the scale peaks at the well-measured cell, not the tiny one's 90%
    assert "Tiny (n=7, few)" in svg and "Big (n=700)" in svg
    # the threshold is the setting's: at 5 the tiny segment is a measured one, and it sets the peak
    assert 'url(#small-n)"><title>' not in heatmap(
        segments([("Big", 700, 0.4), ("Tiny", 7, 0.9)]), [theme(0, "Delivery", 300, -0.2)], small_n=5
    )


def test_sentiment_chart_fades_a_small_segment():
    svg = sentiment_chart(segments([("Big", 700, 0.4), ("Tiny", 7, 0.9)]))
    assert '<g class="small-n" opacity="0.45">' in svg and "Tiny (n=7, few)" in svg
    assert '<g class="n">' in svg


def test_one_comment_is_not_a_most_negative_topic():
    topics = [theme(0, "Disappointed", 1, -0.95), theme(1, "Delivery", 120, -0.4), theme(2, "Fit", 45, 0.3)]
    svg = impact_chart(topics)
    assert "Disappointed" not in svg and "Delivery (120)" in svg and "Fit (45)" in svg
    assert "Disappointed (1)" in impact_chart(topics, small_n=1)


def test_driver_chart_marks_themes_few_mention():
    rows = [
        Driver("score", 0, "Delivery", 400, 0.4, -20.0, -25.0, -15.0, 0.001, 0.001),
        Driver("score", 1, "Gift wrap", 8, 0.01, -60.0, -110.0, -10.0, 0.01, 0.02),
    ]
    svg = driver_chart(rows, "t", "NPS points")
    assert "adjusted association" in svg and "impact" not in svg
    assert "Gift wrap: -60.00 [-110.00, -10.00], 1% of respondents (n=8, few)" in svg
    assert "(n=400)" in svg and svg.count('fill="#fff"') == 1


def test_small_n_is_a_setting_read_by_the_report(tmp_path):
    cycle = hostile_cycle(tmp_path)  # two segments of 80 respondents, topics of 40 comments
    write_report(cycle)
    assert "(few answers)" not in (tmp_path / "report.md").read_text()
    cycle.manifest.config = {"report": {"small_n": 100}}
    write_report(cycle)
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert md.count("(few answers) |") == 4  # both segments and both topics
    assert "fewer than 100 respondents" in md
    assert page.count('<tr class="small-n">') == 4 and "url(#small-n)" in page
    assert "2 topic(s) of fewer than 100 comments left out" in page
    assert config_from_dict({"report": {"small_n": 10}}, where="x.toml").report.small_n == 10
    with pytest.raises(RefineError, match=r"\[report\] small_n must be at least 1"):
        config_from_dict({"report": {"small_n": 0}}, where="x.toml")


def test_drivers_are_worded_as_associations():
    from refine.report.render import TEMPLATES

    for name in ("insights.html.j2", "insights.md.j2"):
        text = (TEMPLATES / name).read_text()
        assert "does to" not in text and "association, not a measured effect" in text, name
        assert "impact [95% CI]" not in text and "difference with the theme [95% CI]" in text, name


def test_a_language_of_few_comments_is_marked(tmp_path):
    cycle = hostile_cycle(tmp_path)
    cycle.feedback["language"] = ["en", "de"]
    write_report(cycle)
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert "few answers: 1)" in md and page.count('<tr class="small-n"><td>en <span class="few">') == 1


def _attribution():
    from refine.insights.drivers import Attribution, ThemeContribution

    return Attribution(
        "nps", 10.0, 4.0, 400, 500,
        [ThemeContribution(0, "Delivery", 0.25, 0.4, -20.0, -30.0, -3.0, -2.0),  # 100 -> 200 comments
         ThemeContribution(1, "Gift wrap", 0.0, 0.02, None, -80.0, -1.0, 0.0)],  # 0 -> 10: thin
    )  # fmt: skip


def test_the_waterfall_hatches_a_theme_resting_on_few_comments():
    from refine.insights.charts import waterfall_chart

    a = _attribution()
    assert a.comments(a.contributions[1]) == (0, 10) and a.thin(a.contributions[1], 30)
    assert not a.thin(a.contributions[0], 30) and a.thin(a.contributions[0], 150)  # 100 last cycle
    svg = waterfall_chart(a)
    assert "Delivery (n=100→200)</text>" in svg and "Gift wrap (n=0→10, few)</text>" in svg
    assert svg.count('fill="url(#small-n-bar)"') == 1 and 'id="small-n-bar"' in svg
    assert "url(#small-n-bar)" not in waterfall_chart(a, small_n=5)


def test_value_tables_theme_tree_and_waterfall_table_mark_few_answers(tmp_path):
    from refine.insights.drivers import DriverResult
    from refine.insights.stage import CycleInsights
    from refine.segments.value import ValueLine, ValueResult
    from refine.text.themes.model import ParentTheme

    cycle = hostile_cycle(tmp_path)  # topics 0 and 1 of 40 comments each
    value = ValueResult("arr", 1000.0, 300.0, 0, "unhappy", [])
    value.themes = [ValueLine("theme", "0", "Delivery", 400, 120, 800.0, 250.0, 30, 1, 1),
                    ValueLine("theme", "1", "Fit", 9, 4, 200.0, 50.0, 2, 2, 2)]  # fmt: skip
    value.segments = [ValueLine("segment", "Gold", "Gold", 500, 80, 1000.0, 300.0, 40, 1, 1)]
    drivers = DriverResult(
        [Driver("score", 0, "Delivery", 400, 0.4, -20.0, -25.0, -15.0, 0.001, 0.001)],
        {"score": {"model": "OLS", "respondents": 1000, "themes_left_out": "2 theme(s) mentioned by fewer than 10"}},
    )
    cycle.insights = CycleInsights(drivers, value=value, attribution=_attribution())
    cycle.parents = [
        ParentTheme.from_record({"id": 9, "label": "Service", "keywords": [], "size": 80, "quotes": [],
                                 "status": "new", "centroid": [0.0], "children": [0, 1]})
    ]  # fmt: skip
    write_report(cycle)
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert "| Fit (few answers: 4) |" in md and "Delivery (few answers" not in md
    assert "Gift wrap (few answers: 0 → 10) |" in md and "| Delivery | 25%" in md
    assert '<td>Fit <span class="few">few answers (n=4)</span>' in page
    assert '<td>Gift wrap <span class="few">few answers (n=0→10)</span>' in page
    assert "url(#small-n-bar)" in page
    assert "1,000 respondents; 2 theme(s) mentioned by fewer than 10 left out)" in page
    assert "(80 comments)" in md and "fit / size (40, 0 mentioning)" in md  # 40 comments per theme: measured at 30
    cycle.manifest.config = {"report": {"small_n": 50}}
    write_report(cycle)
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert "fit / size (40, 0 mentioning, few answers)" in md and "(80 comments)" in md
    assert page.count('<li class="small-n">') == 2 and "few answers</span>: 80 comments" not in page
