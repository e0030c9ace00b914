"""`refine ab plan` and `refine ab analyze`: a thin Typer layer over refine.experiment.

A user mistake (RefineError) prints `error: <message>` on stderr and exits with status 2.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from refine.cli.common import APP_SETTINGS, handle_errors, lazy_module
from refine.errors import RefineError

# the library, loaded when a command first uses it (so `refine --help` stays fast)
if TYPE_CHECKING:
    import refine.experiment as experiment
    import refine.io.config as io_config
    import refine.io.outputs as io_outputs
    import refine.io.runs as io_runs
    from refine.experiment.bayesian import Prior
else:
    experiment = lazy_module("refine.experiment")  # the package: its __init__ loads the whole stage
    io_config = lazy_module("refine.io.config")
    io_outputs = lazy_module("refine.io.outputs")
    io_runs = lazy_module("refine.io.runs")

ab_app = typer.Typer(
    help="A/B tests for proposals: plan one (power analysis, fixed-horizon or sequential, deterministic stratified "
    "assignment), then analyze the results (lift with fixed or always-valid intervals, Bayesian chance to win, "
    "SRM, CUPED, ratio metrics, capping, daily cumulative effect, novelty, who it helps, corrections, decision).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    **APP_SETTINGS,
)


ForceOption = typer.Option(False, "--force", help="Replace the files of an earlier one in --out (never an input).")


def _run_customers(run: Optional[Path]) -> Optional[Path]:
    """The customer table a run read (from its run.json), when there is one to protect."""
    try:
        return Path(io_runs.read_json(run / "run.json", "run.json")["inputs"]["customers"]["path"]) if run else None
    except (RefineError, KeyError, TypeError):
        return None


def _split(text: Optional[str]) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _ab_settings(config: Optional[Path]) -> io_config.ABSettings:
    """The [ab] section of a refine.toml (only that section is read and checked), or the defaults."""
    if config is None:
        return io_config.ABSettings()
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RefineError("config file not found", where=str(config)) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RefineError(f"not a valid TOML file ({str(exc).splitlines()[0]})", where=str(config)) from None
    settings = io_config.config_from_dict({"ab": raw.get("ab", {})}, str(config)).ab
    if settings.interval not in ("fixed", "sequential"):
        raise RefineError(f"[ab] interval must be fixed or sequential, not {settings.interval!r}", where=str(config))
    return settings


INTERVAL_HELP = (
    "fixed (one look at the planned sample size) or sequential (always-valid intervals: look any day and stop "
    "when one excludes zero). Default: [ab] interval in --config, else fixed."
)
ConfigOption = typer.Option(None, "--config", help="A refine.toml; only its [ab] section is read.")


def _interval(given: Optional[str], settings: io_config.ABSettings) -> str:
    """--interval, else [ab] interval in the config: fixed or sequential."""
    interval = given or settings.interval
    if interval not in ("fixed", "sequential"):
        raise RefineError(f"--interval must be fixed or sequential, not {interval!r}")
    return interval


@ab_app.command()
@handle_errors
def plan(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for assignments.csv and plan.json."),
    metric: str = typer.Option(
        ..., "--metric", "-m", help="Outcome column the test is powered for (0/1 = binary rate, else continuous)."
    ),
    mde: float = typer.Option(
        ...,
        "--mde",
        help="Smallest effect worth detecting: rate points as a fraction for a binary metric "
        "(0.02 = 2 points), metric units for a continuous one; see --relative.",
    ),
    run: Optional[Path] = typer.Option(None, "--run", help="A finished refine run folder holding the proposal."),
    proposal: Optional[str] = typer.Option(
        None,
        "--proposal",
        "-p",
        help="Proposal id in the run (its rule defines who is eligible). "
        "With --customers it is only a label and the default salt.",
    ),
    customers: Optional[Path] = typer.Option(
        None, "--customers", "-c", help="Instead of --run: a customer table (CSV, Parquet, JSONL)."
    ),
    rule: Optional[str] = typer.Option(
        None, "--rule", help='With --customers: who is eligible, e.g. \'segment == "At Risk" and region == "west"\'.'
    ),
    customer_id: Optional[str] = typer.Option(None, "--customer-id", help="With --customers: the customer id column."),
    segment: Optional[str] = typer.Option(
        None,
        "--segment",
        help="With --customers: the current-segment column (assignment is balanced within each segment).",
    ),
    relative: bool = typer.Option(False, "--relative", help="Read --mde as a share of the baseline (0.05 = +5%)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level."),
    power: float = typer.Option(0.8, "--power", help="Power to detect the MDE."),
    treatment_share: float = typer.Option(0.5, "--treatment-share", help="Share of eligible customers in treatment."),
    salt: Optional[str] = typer.Option(
        None,
        "--salt",
        help="Hash salt; the same salt always gives the same arms. Defaults to the "
        "proposal id (or the rule text when there is no proposal).",
    ),
    interval: Optional[str] = typer.Option(
        None,
        "--interval",
        help="Size the test for " + INTERVAL_HELP + " Recorded in plan.json; `ab analyze --plan` uses it.",
    ),
    config: Optional[Path] = ConfigOption,
    force: bool = ForceOption,
) -> None:
    """Size an A/B test for a proposal and assign its eligible customers to arms."""
    interval = _interval(interval, _ab_settings(config))
    io_runs.check_output_folder(out, {"assignments.csv", "plan.json"}, what="A/B plan", force=force)
    inputs = {"--customers": customers, "--config": config, "the run's customer table": _run_customers(run)}
    for name in ("assignments.csv", "plan.json"):
        io_outputs.check_not_input(out / name, inputs, "A/B plan")
    if run is not None:
        if customers is not None or rule is not None:
            raise RefineError("give either --run with --proposal, or --customers with --rule, not both")
        if not proposal:
            raise RefineError("--run needs --proposal (the proposal id to test)")
        table, rule, customer_id, segment = _proposal_customers(run, proposal)
    else:
        if customers is None or not rule or not customer_id or not segment:
            raise RefineError("give --run and --proposal, or --customers with --rule, --customer-id and --segment")
        table = experiment.read_table(customers, [customer_id], what="customers", exact=True)
    assignments, plan_doc = experiment.plan_experiment(
        table,
        rule=rule,
        customer_id=customer_id,
        segment=segment,
        metric=metric,
        mde=mde,
        alpha=alpha,
        power=power,
        salt=salt or proposal or rule,
        treatment_share=treatment_share,
        mde_relative=relative,
        proposal=proposal,
        interval=interval,
    )
    out.mkdir(parents=True, exist_ok=True)
    # the ids and segments are the CRM's keys: written exactly as read, never with a spreadsheet's leading '
    io_runs.write_csv(out / "assignments.csv", assignments, keys=[customer_id, segment])
    io_runs.write_json(out / "plan.json", plan_doc)
    _print_plan(plan_doc, metric, interval)
    typer.echo(str(out / "assignments.csv"))
    typer.echo(str(out / "plan.json"))


def _proposal_customers(run: Path, proposal: str) -> tuple[Any, str, str, str]:
    """(customer table, rule, customer id column, segment column) of a proposal in a finished run."""
    loaded = io_runs.load_run(run)
    found = io_runs.find_proposal(loaded, proposal)
    io_runs.check_digest(loaded, found)  # a rule edited in proposals.json after the run is not tested
    if not found.get("rule"):
        raise RefineError(f"proposal {proposal!r} has no rule to select customers by")
    return loaded.customers, str(found["rule"]), loaded.config.customers.customer_id, loaded.config.customers.segment


def _print_plan(plan_doc: dict, metric: str, interval: str) -> None:
    need = plan_doc["n_per_arm_required"]
    arms = plan_doc["arms"]
    pop = plan_doc["mde_at_population"]
    typer.echo(
        f"eligible: {plan_doc['eligible']} customers ({arms['treatment']} treatment / {arms['control']} control)"
    )
    typer.echo(
        f"needed for MDE {plan_doc['mde_absolute']:.4g} on {metric} ({plan_doc['metric_type']}): "
        f"{need['treatment']} treatment / {need['control']} control ({interval} interval)"
    )
    if pop["absolute"] is not None:
        typer.echo(f"smallest detectable effect with this population: {pop['absolute']:.4g}")
    typer.echo(f"feasible: {'yes' if plan_doc['feasible'] else 'NO'}")
    for warning in plan_doc["warnings"]:
        typer.echo(f"warning: {warning}", err=True)


# `ab analyze`'s longer options, defined here so that its signature reads one line per option
DataOption = typer.Option(
    ...,
    "--data",
    "-d",
    help="One row per unit (or per exposure): unit, arm and, unless --outcomes is given, "
    "the metrics. CSV, TSV, Parquet or JSONL.",
)
UnitOption = typer.Option(..., "--unit", help="Unit id column (user, customer) joining the tables.")
ControlOption = typer.Option(..., "--control", help="The arm value of the control group (e.g. control).")
MetricsOption = typer.Option(
    ...,
    "--metrics",
    help="Comma-separated metric columns; the first is the primary metric that decides. "
    "0/1 columns are rates (two-proportion test), others continuous (Welch).",
)
OutOption = typer.Option(..., "--out", "-o", help="Folder for ab_report.json, ab_report.md, ab_report.html.")
OutcomesOption = typer.Option(None, "--outcomes", help="Outcomes table joined to --data on --unit (one row per unit).")
CovariatesOption = typer.Option(
    None,
    "--covariates",
    help="Pre-period columns for CUPED, comma-separated: either by position with --metrics "
    "(pre_a,pre_b; '-' skips a metric) or as metric:covariate pairs (revenue:pre_revenue).",
)
SegmentOption = typer.Option(
    None, "--segment", help="Column to break effects down by (e.g. segment); also tested for who it helps."
)
GuardrailsOption = typer.Option(
    None, "--guardrails", help="Comma-separated metrics that must not get worse (judged uncorrected)."
)
LowerIsBetterOption = typer.Option(
    None, "--lower-is-better", help="Comma-separated metrics where a decrease is good (e.g. churned_90d)."
)
ConsistencyOption = typer.Option(
    None,
    "--consistency",
    help="Check that rows agree with their arm, repeatable: COL:OTHER=value:expected,... e.g. "
    "group:landing_page=control:old_page,treatment:new_page. Contradicting rows are excluded and counted.",
)
CorrectionOption = typer.Option(
    "bh",
    "--correction",
    help="Multiple-testing correction: bh (Benjamini-Hochberg) or holm, over primary and secondary metrics x "
    "treatment arms x (all units + each segment); also over the who-it-helps and novelty tests, each family apart.",
)
ExpectedSplitOption = typer.Option(
    0.5,
    "--expected-split",
    help="Expected share of units in treatment (shared by several treatment arms) for the sample-ratio check.",
)
IntervalOption = typer.Option(None, "--interval", help="Which interval judges significance: " + INTERVAL_HELP)
TuningOption = typer.Option(
    None,
    "--tuning",
    help="Sequential tuning parameter: the total units at which the always-valid interval is tightest. "
    "Default: [ab] sequential_tuning, else the plan's total (--plan), else 5000 (GrowthBook's default).",
)
PlanPathOption = typer.Option(
    None,
    "--plan",
    help="plan.json from `refine ab plan`: its sample size gives 'keep running: N more days' and the tuning.",
)
TimestampOption = typer.Option(
    None,
    "--timestamp",
    help="Exposure time column: daily cumulative effect chart, novelty check (early vs late units), days to go. "
    "Unreadable values are excluded and counted.",
)
TimestampFormatOption = typer.Option(
    None,
    "--timestamp-format",
    help="With --timestamp: a strptime pattern for it ('%d/%m/%Y %H:%M'). Without one, day-first or month-first "
    "is decided from the whole column, with a warning when no date decides it.",
)
AsOfOption = typer.Option(
    None, "--as-of", help="With --timestamp: analyse only units exposed up to this date (YYYY-MM-DD)."
)
RatioOption = typer.Option(
    None,
    "--ratio",
    help="Ratio metric by the delta method, repeatable: NAME=NUMERATOR/DENOMINATOR (revenue_per_order="
    "revenue/orders). Name it in --metrics to make it primary; otherwise it is added as a secondary metric.",
)
CapOption = typer.Option(
    None,
    "--cap",
    help="Winsorize metrics at a percentile of the pooled data (all arms), comma-separated METRIC:P (revenue:0.99).",
)
AttributesOption = typer.Option(
    None,
    "--attributes",
    help="Comma-separated columns to test 'who it helps' (Cochran's Q across their levels), next to --segment.",
)
PriorMeanOption = typer.Option(
    None, "--prior-mean", help="Bayesian read-out: normal prior mean of the relative effect (0.02 = +2%)."
)
PriorSdOption = typer.Option(
    None, "--prior-sd", help="Its standard deviation (0.1 = 10%); 0 or absent = flat prior (GrowthBook's default)."
)
ArmMapOption = typer.Option(
    None,
    "--arm-map",
    help="Count an arm label as another arm, repeatable or comma separated: LABEL=ARM (contrl=control). Without it, "
    "a label held by under 1% of units that reads as a misspelling of a known arm is left out (rows in "
    "ab_rejects.csv); ARM must be a known arm.",
)
MaxLevelsOption = typer.Option(
    None, "--max-levels", help="Most distinct values a breakdown column may have (default [ab] max_levels, 500)."
)


@ab_app.command()
@handle_errors
def analyze(
    data: Path = DataOption,
    unit: str = UnitOption,
    arm: str = typer.Option(..., "--arm", help="Arm column (e.g. group)."),
    control: str = ControlOption,
    metrics: str = MetricsOption,
    out: Path = OutOption,
    outcomes: Optional[Path] = OutcomesOption,
    covariates: Optional[str] = CovariatesOption,
    segment: Optional[str] = SegmentOption,
    guardrails: Optional[str] = GuardrailsOption,
    lower_is_better: Optional[str] = LowerIsBetterOption,
    consistency: Optional[list[str]] = ConsistencyOption,
    correction: str = CorrectionOption,
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level; CIs are at 1 - alpha."),
    expected_split: float = ExpectedSplitOption,
    interval: Optional[str] = IntervalOption,
    tuning: Optional[float] = TuningOption,
    plan_path: Optional[Path] = PlanPathOption,
    timestamp: Optional[str] = TimestampOption,
    as_of: Optional[str] = AsOfOption,
    timestamp_format: Optional[str] = TimestampFormatOption,
    ratio: Optional[list[str]] = RatioOption,
    cap: Optional[str] = CapOption,
    attributes: Optional[str] = AttributesOption,
    prior_mean: Optional[float] = PriorMeanOption,
    prior_sd: Optional[float] = PriorSdOption,
    max_levels: Optional[int] = MaxLevelsOption,
    arm_map: Optional[list[str]] = ArmMapOption,
    config: Optional[Path] = ConfigOption,
    force: bool = ForceOption,
) -> None:
    """Analyze an A/B test: lift, fixed or always-valid CI, Bayesian chance to win, per metric, arm and segment;
    SRM; guardrails; daily cumulative effect; who it helps; a decision."""
    if correction not in ("bh", "holm"):
        raise RefineError(f"--correction must be bh or holm, not {correction!r}")
    settings = _ab_settings(config)
    interval = _interval(interval, settings)
    prior = _prior(settings, prior_mean, prior_sd)
    plan_doc = None if plan_path is None else _read_plan(plan_path)
    reports = ("ab_report.json", "ab_report.md", "ab_report.html", "ab_rejects.csv")
    io_runs.check_output_folder(out, set(reports), what="A/B analysis", force=force)
    for name in reports:
        io_outputs.check_not_input(
            out / name,
            {"--data": data, "--outcomes": outcomes, "--plan": plan_path, "--config": config},
            "A/B analysis",
        )
    frame = experiment.load_experiment_data(data, outcomes, unit)
    report = experiment.analyze_experiment(
        frame,
        unit=unit,
        arm=arm,
        control=control,
        metrics=_split(metrics),
        covariates=_split(covariates) or None,
        segment=segment,
        guardrails=_split(guardrails),
        correction=correction,
        alpha=alpha,
        consistency=consistency or None,
        lower_is_better=_split(lower_is_better),
        expected_split=expected_split,
        ratios=ratio or None,
        caps=_split(cap) or None,
        timestamp=timestamp,
        as_of=as_of,
        timestamp_format=timestamp_format,
        attributes=_split(attributes),
        interval=interval,
        tuning=tuning if tuning is not None else (settings.sequential_tuning or None),
        prior=prior,
        plan=plan_doc,
        max_levels=max_levels or settings.max_levels,
        arm_map=arm_map or None,
    )
    paths = experiment.write_ab_report(report, out)
    _print_analysis(report, interval)
    for path in paths.values():
        typer.echo(str(path))


def _prior(settings: io_config.ABSettings, prior_mean: Optional[float], prior_sd: Optional[float]) -> Prior:
    """The Bayesian read-out's prior: --prior-mean / --prior-sd, else [ab] in the config; flat when its sd is 0."""
    sd = settings.prior_sd if prior_sd is None else prior_sd
    mean = settings.prior_mean if prior_mean is None else prior_mean
    if sd < 0:
        raise RefineError("--prior-sd must be 0 (flat prior) or a positive number")
    # refine.experiment imports its bayesian module, which defines Prior
    return experiment.bayesian.Prior(mean, sd) if sd > 0 else experiment.bayesian.Prior()


def _read_plan(plan_path: Path) -> dict:
    """plan.json as written by `refine ab plan`."""
    try:
        plan_doc = json.loads(plan_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RefineError("plan file not found", where=str(plan_path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RefineError("not a plan.json written by `refine ab plan`", where=str(plan_path)) from None
    if not isinstance(plan_doc, dict) or "n_per_arm_required" not in plan_doc:
        raise RefineError("not a plan.json written by `refine ab plan`", where=str(plan_path))
    return plan_doc


def _print_analysis(report: experiment.ABReport, interval: str) -> None:
    q = report["data_quality"]
    ex = q["excluded_rows"]
    typer.echo(
        f"rows: {q['input_rows']} in, {q['accepted_units']} units accepted; excluded: "
        f"{ex['contradicting']} contradicting, {ex['unit_in_both_arms']} in both arms, "
        f"{ex['duplicate_rows']} duplicates, {ex['missing_unit_or_arm']} without unit/arm"
        + (f", {ex['stray_arm_label']} with a stray arm label (ab_rejects.csv)" if ex.get("stray_arm_label") else "")
    )
    for r in report["results"]:
        if r["segment"] is None and r.get("summary"):
            typer.echo(f"{r['summary']} {_significance(r, interval)}")
    for warning in report["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(report["interval"]["statement"])
    typer.echo(f"decision: {report['decision']['decision']} ({report['decision']['headline']})")
    for reason in report["decision"]["reasons"]:
        typer.echo(f"  - {reason}")


def _significance(r: dict, interval: str) -> str:
    """A result's p-value (always-valid when sequential), adjusted p-value and chance to beat control."""
    if interval == "sequential":
        seq = r["sequential"]
        tail = f"always-valid p = {seq['p_value']:.3g}" + (
            f", adjusted {seq['p_adjusted']:.3g}" if seq.get("p_adjusted") is not None else ""
        )
    else:
        tail = f"p = {r['p_value']:.3g}" + (f", adjusted {r['p_adjusted']:.3g}" if r["p_adjusted"] is not None else "")
    bayes = r.get("bayesian", {})
    if "chance_to_win" in bayes:
        tail += f"; chance to beat control {bayes['chance_to_win']:.1%}"
    return tail
