"""The run folder written from a CycleResult: tables, JSON and the report (run.json last, by run_cycle)."""

from __future__ import annotations

from refine import schemas as S
from refine.files import clean_json
from refine.insights.followup import CUSTOMERS_FILE, stored_customers
from refine.io.runs import write_csv, write_json, write_parquet
from refine.report.render import where_clause, write_report


def write_run(result) -> None:
    """Every file of a run folder but run.json (written last by the pipeline): tables, JSON, the report.

    Args:
        result: a refine.run.results.CycleResult.
    """
    out_dir = result.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    # run.json goes last: a folder without it is an unfinished run
    (out_dir / "run.json").unlink(missing_ok=True)
    for stale in out_dir.glob(".*.tmp"):  # half-written files of a run killed while writing
        stale.unlink(missing_ok=True)
    columns = [
        S.FEEDBACK_ID,
        S.CUSTOMER_ID,
        S.SEGMENT,
        S.TEXT,
        S.SCORE,
        S.TIMESTAMP,
        S.SOURCE,
        S.SENTIMENT_SCORE,
        S.SENTIMENT_LABEL,
        *S.SENTIMENT_PROBS,
        S.TOPIC_ID,
        S.TOPIC_LABEL,
    ]
    # added with languages: after the columns older runs have, so their readers see the same first columns
    columns += [
        c
        for c in ("sentiment_confidence", "language", S.TOPIC_PARENT_ID, S.TOPIC_PARENT_LABEL)
        if c in result.feedback.columns
    ]
    write_parquet(out_dir / "feedback.parquet", result.feedback[columns])
    write_csv(out_dir / "rejects.csv", result.rejects, keys=["id"])
    topics = result.topics
    write_json(
        out_dir / "topics.json",
        clean_json(
            {
                "topics": [t.to_record() for t in topics if t.status != "fading"],
                "fading": [t.to_record() for t in topics if t.status == "fading"],
                "parents": [p.to_record() for p in result.parents],
                "method": result.manifest.topic_method,
            }
        ),
    )
    write_parquet(out_dir / "segments.parquet", result.segments)
    proposals = result.proposal_result().to_json()
    for proposal in proposals["proposals"]:  # the rule as a WHERE clause on the table's own column names
        proposal["sql"] = where_clause(proposal["rule"])
    write_json(out_dir / "proposals.json", clean_json(proposals))
    write_parquet(out_dir / "assignments.parquet", result.assignments)
    # what next month needs to redraw this month's segments under a rule accepted later (ids, rule columns, outcomes)
    names = result.manifest.config.get("customers") or {}
    stored = stored_customers(result.customers, result.proposals, names)
    if stored is not None:
        write_parquet(out_dir / CUSTOMERS_FILE, stored)
    if result.insights is not None:
        insights = result.insights.to_json()
        if result.comparison is not None:  # --previous: month over month and the follow-ups, as the report shows them
            insights["previous_month"] = clean_json(result.comparison)
        write_json(out_dir / "insights.json", insights)
    write_report(result)
