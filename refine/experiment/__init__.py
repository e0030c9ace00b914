"""A/B tests for proposals: design one (power, hash assignment), analyse it, write the report.

Modules
    design       ``plan_experiment``: sample size (fixed horizon or sequential), deterministic stratified assignment
    data         ``read_table``, ``load_experiment_data``, the data-quality policy (every excluded row counted)
    estimators   vectorised estimators on summary statistics: two proportions, Welch, CUPED, ratio (delta method)
    sequential   always-valid confidence sequences (the asymptotic mixture of Waudby-Smith et al., as gbstats)
    bayesian     chance to beat control, expected loss and credible interval under a normal prior (as gbstats)
    timeline     daily cumulative effects from sufficient statistics, novelty check
    heterogeneity  "who it helps": Cochran's Q across segment / attribute levels, opposite-sign levels
    analysis     ``analyze_experiment``: SRM, effects per metric x arm x segment, corrections, decision
    report       ``ABReport``: the typed result; ``to_json()`` / ``from_json()`` are ab_report.json
    render       ``write_ab_report``: ab_report.json, ab_report.md, ab_report.html (inline SVG)

``from refine.experiment import plan_experiment, analyze_experiment, write_ab_report`` is the public API.
"""

from refine.experiment._common import ARMS, is_binary
from refine.experiment.analysis import analyze_experiment
from refine.experiment.data import (
    DATA_QUALITY_POLICY,
    ConsistencyCheck,
    load_experiment_data,
    parse_consistency,
    read_table,
)
from refine.experiment.design import assign_arms, hash_unit, plan_experiment
from refine.experiment.estimators import adjust_pvalues, cuped_adjust, srm_check, two_proportion, welch
from refine.experiment.render import forest_rows, render_html, render_markdown, write_ab_report
from refine.experiment.report import ABReport

__all__ = [
    "ABReport",
    "ARMS",
    "DATA_QUALITY_POLICY",
    "ConsistencyCheck",
    "adjust_pvalues",
    "analyze_experiment",
    "assign_arms",
    "cuped_adjust",
    "forest_rows",
    "hash_unit",
    "is_binary",
    "load_experiment_data",
    "parse_consistency",
    "plan_experiment",
    "read_table",
    "render_html",
    "render_markdown",
    "srm_check",
    "two_proportion",
    "welch",
    "write_ab_report",
]
