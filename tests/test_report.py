"""The report: hostile feedback text is shown, never run; the page renders in a real browser."""

import html
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from refine.report.render import md_code, md_escape, write_report
from refine.run.results import CycleResult, RunManifest
from refine.segments.model import Proposal, ProposalMethod
from refine.text.themes.model import Theme

PAYLOADS = [
    "<script>document.body.setAttribute('data-pwned','script')</script>",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "[click me](javascript:document.body.setAttribute('data-pwned','md'))",
    "**bold** <b>html</b> | pipe | `code`",
]
SEGMENT = "VIP <script>alert(1)</script>"


def hostile_cycle(out: Path) -> CycleResult:
    quote = " ".join(PAYLOADS)
    topics = [
        {
            "id": 0,
            "label": PAYLOADS[1],
            "keywords": [PAYLOADS[0], "delivery"],
            "size": 40,
            "share": 0.5,
            "mean_sentiment": -0.4,
            "quotes": [quote],
            "status": "new",
            "centroid": [0.1, 0.2],
        },
        {
            "id": 1,
            "label": "fit / size",
            "keywords": ["fit"],
            "size": 40,
            "share": 0.5,
            "mean_sentiment": 0.3,
            "quotes": ["Fits well"],
            "status": "new",
            "centroid": [0.2, 0.1],
        },
    ]
    segments = pd.DataFrame(
        [
            {
                "segment": name,
                "customers": 500,
                "respondents": 80,
                "feedback": 90,
                "coverage": 0.16,
                "sentiment_mean": m,
                "sentiment_ci_low": m - 0.1,
                "sentiment_ci_high": m + 0.1,
                "negative_share": 0.3,
                "score_kind": "nps",
                "score_respondents": 70,
                "score_value": 10.0,
                "score_ci_low": -5.0,
                "score_ci_high": 25.0,
                "outcome:churned:mean": 0.1,
                "outcome:churned:ci_low": 0.08,
                "outcome:churned:ci_high": 0.12,
                "topic_0_share": 0.6,
                "topic_0_impact": -0.1,
                "topic_1_share": 0.4,
                "topic_1_impact": 0.05,
            }
            for name, m in ((SEGMENT, -0.2), ("Loyal", 0.3))
        ]
    )
    comparison = {
        "measure": "topic_0",
        "kind": "proportion",
        "n_group": 40,
        "n_rest": 60,
        "group_value": 0.5,
        "rest_value": 0.1,
        "diff": 0.4,
        "ci_low": 0.2,
        "ci_high": 0.6,
        "effect": 0.9,
        "p_value": 1e-5,
        "p_adjusted": 1e-4,
        "label": f"mentions '{PAYLOADS[1]}'",
    }
    proposals = [
        {
            "id": "new-abc123",
            "kind": "new",
            "segments": [SEGMENT, "Loyal"],
            "rule": 'region == "<script>alert(2)</script>"',
            "customers": 300,
            "respondents": 40,
            "evidence": {"discovery": [comparison], "holdout": [comparison], "holdout_q": 0.001},
            "top_topics": [{"topic_id": 0, "label": PAYLOADS[2], "share": 0.5, "share_elsewhere": 0.1}],
            "quotes": [quote],
            "expected_impact": [],
            "score": 0.5,
            "confirmed": True,
            "rank": 1,
        }
    ]
    feedback = pd.DataFrame(
        {
            "topic_id": [0, 1],
            "sentiment_label": ["negative", "positive"],
            "score": [np.nan, 9.0],
            "sentiment_score": [-0.5, 0.6],
        }
    )
    manifest = {
        "started": "2026-11-01T00:00:00+00:00",
        "warnings": [PAYLOADS[0]],
        "refine_version": "test",
        "counts": {
            "feedback_in": 3,
            "feedback_accepted": 2,
            "feedback_rejected": 1,
            "customers_in": 1000,
            "customers_accepted": 1000,
            "customers_rejected": 0,
            "feedback_redacted": 0,
            "feedback_truncated": 0,
        },
        "models": {"embedding": "m", "sentiment": "s"},
    }
    method = {
        "discovery_customers": 600,
        "holdout_customers": 400,
        "discovery_respondents": 100,
        "holdout_respondents": 60,
        "comparisons": 10,
        "conditions_tested": 3,
        "correction": "BH",
        "alpha": 0.05,
        "min_effect": 0.3,
        "equivalence_margin": 0.2,
        "min_segment_size": 100,
        "max_segments": 12,
        "seed": 0,
    }
    rejects = pd.DataFrame({"table": ["feedback"], "row": [3], "id": ["r3"], "reason": [PAYLOADS[3]]})
    out.mkdir(parents=True, exist_ok=True)
    return CycleResult(
        out_dir=out,
        feedback=feedback,
        customers=pd.DataFrame(),
        rejects=rejects,
        topics=[Theme.from_record(t) for t in topics],
        segments=segments,
        proposals=[Proposal.from_json(p) for p in proposals],
        stopped=[],
        method=ProposalMethod.from_json(method),
        assignments=pd.DataFrame(),
        manifest=RunManifest.from_json(manifest),
    )


def test_html_escapes_every_feedback_derived_text(tmp_path):
    write_report(hostile_cycle(tmp_path))
    html = (tmp_path / "report.html").read_text()
    assert "<script>" not in html.split("</style>", 1)[1]  # no script tag anywhere in the body
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=" in html  # shown as text
    assert 'href="javascript:' not in html
    assert "Content-Security-Policy" in html


def test_markdown_is_inert(tmp_path):
    write_report(hostile_cycle(tmp_path))
    md = (tmp_path / "report.md").read_text()
    prose = re.sub(r"(`+) .*? \1", "", md)  # code spans show their content as text, never as HTML
    assert not re.search(r"(?<!\\)<(script|img)", prose)  # markup shows as text: \\<script> in the file
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
    assert "<script" not in rendered and "<img" not in rendered
    # the rule is one code span, exactly: its markup-looking text is shown, never rendered
    assert '- Rule: ` region == "<script>alert(2)</script>" `\n' in md
    assert md_code("a `b` c") == "`` a `b` c ``"  # a longer fence than any backtick run inside
    assert not re.search(r"(?<!\\)\]\(javascript:", md) and 'href="javascript' not in rendered
    assert md_escape("a|b") == "a\\|b" and md_escape("<b>") == "\\<b>"


MD_SAMPLES = [
    *PAYLOADS,
    "-1.5 pts [-4.1, +1.2]",
    "# not a heading",
    "1. not a list",
    "- not an item",
    "---",
    "> not a quote",
    "![img](x.png) [ref]: http://example.com",
    "~~struck~~ _em_ *em* 4 * 5",
    "C:\\path\\x and a\\*b",
    "churned_90d & co &amp; <3",
]


@pytest.mark.parametrize("text", MD_SAMPLES)
def test_markdown_shows_text_as_written_and_reads_as_plain_text(text):
    from markdown_it import MarkdownIt

    render_md = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render
    escaped = md_escape(text)
    for where in ("{}", "> {}", "- Evidence: {}", "| a |\n|---|\n| {} |"):
        out = render_md(where.format(escaped))
        tags = set(re.findall(r"<(\w+)", out)) - {
            "p",
            "blockquote",
            "ul",
            "li",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
        }
        assert not tags, (text, where, out)  # nothing rendered as markup
        shown = re.sub(r"<[^>]+>", "", out).strip().splitlines()[-1].removeprefix("Evidence: ")
        assert html.unescape(shown) == text, (text, where, out)


def test_markdown_escapes_only_what_it_must():
    assert md_escape("-1.5 pts [-4.1, +1.2]") == "-1.5 pts [-4.1, +1.2]"  # was \\-1\\.5 pts \\[\\-4\\.1 ...
    assert md_escape("churned_90d (n=7).") == "churned_90d (n=7)."
    assert md_escape("[a](b)") == "[a\\](b)" and md_escape("# x") == "\\# x" and md_escape("2. x") == "2\\. x"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def render(page: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            *flags,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (scripts/setup.sh installs it as root)")
def test_report_renders_in_chromium_and_runs_nothing(tmp_path):
    write_report(hostile_cycle(tmp_path / "run"))
    page = tmp_path / "run" / "report.html"
    dom = render(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = dom.stdout
    assert "data-pwned" not in body.split("<body", 1)[1].split(">", 1)[0]  # no payload changed the page
    for section in ("summary", "proposals", "segments", "topics", "data-quality", "method"):
        assert f'id="{section}"' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # the hostile segment name reads as text
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    shot = tmp_path / "report.png"
    result = render(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert result.returncode == 0 and shot.stat().st_size > 20000  # stays in tmp_path: no test writes into the repo


def test_figures_read_as_a_cx_reader_expects():
    from refine.report.render import difference, gap, impact, period, pval, score_gap

    assert (pval(0.0), pval(0.00004), pval(0.01234), pval(None)) == ("< 0.0001", "< 0.0001", "= 0.0123", "n/a")
    share = {"kind": "proportion", "diff": 0.106, "ci_low": 0.091, "ci_high": 0.122}
    assert difference(share) == "+10.6 pts [+9.1, +12.2]"
    assert difference({"kind": "mean", "diff": -1.5623, "ci_low": -1.94, "ci_high": -1.18}) == "-1.56 [-1.94, -1.18]"
    churn = dict(
        share,
        outcome="churned_90d",
        segment_mean=0.302,
        compared_mean=0.196,
        customers=3939,
        total_difference=0.106 * 3939,
    )
    assert impact(churn).startswith(
        "churned_90d: 30.2% vs 19.6%, +10.6 points (95% CI +9.1 to +12.2) across 3,939 customers: about 418 more"
    )
    assert gap(churn) == "+10.6 points"
    revenue = {
        "kind": "mean",
        "outcome": "revenue",
        "segment_mean": 515.2,
        "compared_mean": 1597.3,
        "diff": -82.1,
        "ci_low": -105.2,
        "ci_high": -59.0,
        "customers": 3939,
        "total_difference": -323385.0,
    }
    assert impact(revenue) == (
        "revenue: 515.20 vs 1,597 per customer, -82.10 (95% CI -105.20 to -59.00) across "
        "3,939 customers: -323,385 in total"
    )
    assert score_gap(
        {
            "kind": "nps",
            "group_value": -44.6,
            "rest_value": -1.4,
            "diff": -43.2,
            "ci_low": -53.5,
            "ci_high": -33.2,
            "n_group": 296,
            "n_rest": 1292,
        }
    ) == ("NPS -45 vs -1, -43 points (95% CI -54 to -33) over 296 vs 1,292 answers")
    stamps = pd.Series(pd.to_datetime(["2024-05-31T23:00:00Z", "2024-05-01T08:00:00Z", None], utc=True))
    assert period(stamps) == "1 May 2024 to 31 May 2024"
    assert period(pd.Series([pd.NaT, pd.NaT])) is None
