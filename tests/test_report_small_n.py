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
