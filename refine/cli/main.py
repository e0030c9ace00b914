"""The refine command line: a thin Typer layer over the library.

Each command parses its options, loads the config, calls one library function and prints.
A user mistake (RefineError) prints one line on stderr and exits with status 2, no traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from refine import __version__
from refine.cli.ab import ab_app
from refine.cli.common import APP_SETTINGS, Command, handle_errors, lazy_module
from refine.cli.sentiment import sentiment_app
from refine.cli.themes import themes_app
from refine.errors import RefineError

# the library, loaded when a command first uses it (so `refine --help` stays fast)
if TYPE_CHECKING:
    import refine.demo.company as company
    import refine.demo.worlds as worlds
    import refine.insights.history as insights_history
    import refine.io.config as io_config
    import refine.io.outputs as io_outputs
    import refine.io.runs as io_runs
    import refine.run.cycle as cycle
    import refine.segments.assign as assignment
    import refine.segments.decisions as decisions
else:
    company = lazy_module("refine.demo.company")
    worlds = lazy_module("refine.demo.worlds")
    insights_history = lazy_module("refine.insights.history")
    io_config = lazy_module("refine.io.config")
    io_outputs = lazy_module("refine.io.outputs")
    io_runs = lazy_module("refine.io.runs")
    cycle = lazy_module("refine.run.cycle")
    assignment = lazy_module("refine.segments.assign")
    decisions = lazy_module("refine.segments.decisions")

app = typer.Typer(
    help="refine: propose segment merges, splits and new segments from customer feedback, with evidence, "
    "A/B plans and a stakeholder report.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    **APP_SETTINGS,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"refine {__version__}")
        raise typer.Exit()


@app.callback()
def _app_options(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """The options of `refine` itself (its help text is the app's)."""


# shared options, defined once
QuietOption = typer.Option(
    False, "--quiet", "-q", help="No progress messages or bars; warnings are still printed (on stderr)."
)
SeedOption = typer.Option(None, "--seed", help="Random seed (overrides [run] seed in the config).")


@app.command()
@handle_errors
def run(
    feedback: Optional[Path] = typer.Option(
        None, "--feedback", "-f", help="Feedback file: CSV, TSV, Parquet or JSONL (not with [feedback] database)."
    ),
    customers: Optional[Path] = typer.Option(
        None, "--customers", "-c", help="Customer table with today's segments (not with [customers] database)."
    ),
    config: Path = typer.Option(..., "--config", help="refine.toml mapping your column names (see `refine init`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to write."),
    previous: Optional[Path] = typer.Option(
        None, "--previous", help="Last cycle's run folder: keep topic ids, compare."
    ),
    seed: Optional[int] = SeedOption,
    quiet: bool = QuietOption,
    force: bool = typer.Option(False, "--force", help="Replace a finished run in --out (none of its files is kept)."),
    estimate: bool = typer.Option(
        False,
        "--estimate",
        help="Print the comments, sentences, texts to embed and about how long the run takes, then stop "
        "(nothing embedded, nothing written).",
    ),
) -> None:
    """Run one refinement cycle: ingest, embed, sentiment, topics, join, propose, report."""
    settings = io_config.load_config(config, overrides={"run": {"seed": seed}})
    for name, path, section in (
        ("feedback", feedback, settings.feedback),
        ("customers", customers, settings.customers),
    ):
        if path is None and not section.database:
            raise RefineError(f"give --{name}, or set [{name}] database and table / query in the config")
        if path is not None and section.database:
            raise RefineError(f"give either --{name} or [{name}] database in the config, not both", where=str(config))
    # the checks run_cycle starts with, made here too before the pipeline's imports (about 2 s) are paid
    io_outputs.check_unlocked(out)
    io_outputs.check_writable(out, "run")
    if estimate:
        cost = cycle.estimate_cycle(feedback, customers, settings, out, previous=previous, quiet=True, force=force)
        typer.echo("\n".join(f"estimate: {line}" for line in cost.lines()))
        return
    result = cycle.run_cycle(feedback, customers, settings, out, previous=previous, quiet=quiet, force=force)
    _print_summary(result, quiet)


def _print_summary(result, quiet: bool) -> None:
    if not quiet:
        confirmed = sum(p["confirmed"] for p in result.proposals)
        typer.echo(
            f"{len(result.proposals)} proposals ({confirmed} confirmed), "
            f"{len(result.topics)} topics, {len(result.rejects)} rejected rows"
        )
        for p in result.proposals[:5]:
            mark = "confirmed" if p["confirmed"] else "not confirmed"
            typer.echo(f"  {p['rank']}. [{p['kind']}] {p['rule']}  ({p['customers']} customers, {mark}, id {p['id']})")
    typer.echo(str(result.report_path))


@app.command()
@handle_errors
def demo(
    out: Path = typer.Option(Path("refine-demo"), "--out", "-o", help="Folder for the demo data and run."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic company."),
    null: bool = typer.Option(False, "--null", help="Plant no structure: a good engine proposes nothing."),
    customers: int = typer.Option(20000, "--customers", help="Number of synthetic customers."),
    response_rate: float = typer.Option(
        0.1, "--response-rate", help="Share of customers who left feedback this month (0.02-0.9)."
    ),
    world: int | None = typer.Option(
        None,
        "--world",
        help="Draw randomized world SEED instead (refine.demo.worlds: random attributes and planted structure, real "
        "texts from ../shared/data when present); --seed and --response-rate do not apply.",
    ),
    quiet: bool = QuietOption,
    force: bool = typer.Option(False, "--force", help="Replace an earlier demo in --out (its data and run)."),
) -> None:
    """Generate a synthetic company with planted structure (truth.json) and run a cycle on it."""
    _check_demo_folder(out, force)
    if world is not None:
        if world < 0:
            raise RefineError(f"--world must be a whole number >= 0, got {world}")
        if customers < 2000:
            raise RefineError(f"--customers must be at least 2000 for a world, got {customers}")
        pools = worlds.load_pools(worlds.find_shared_data())
        drawn = worlds.draw_world(world, worlds.world_pool(world, pools), null=null, n_customers=customers)
        paths = drawn.write(out / "data")
        if not pools:  # a warning: printed even with --quiet
            typer.echo(
                "warning: ../shared/data not found: texts come from refine.demo.company's sentence generator",
                err=True,
            )
        if not quiet:
            typer.echo(
                f"world {world}: {len(drawn.planted)} planted structure(s), texts: {drawn.text_source}; "
                f"data in {out / 'data'} (truth.json)",
                err=True,
            )
    else:
        synthetic = company.generate_company(seed, n_customers=customers, response_rate=response_rate, null=null)
        paths = company.write_demo_data(out / "data", synthetic)
        if not quiet:
            typer.echo(f"demo data: {out / 'data'} (planted structure in truth.json)", err=True)
    settings = io_config.load_config(paths["config"])
    result = cycle.run_cycle(paths["feedback"], paths["customers"], settings, out / "run", quiet=quiet, force=force)
    _print_summary(result, quiet)


def _check_demo_folder(out: Path, force: bool) -> None:
    """An earlier demo in `out` (its data or a finished run) is replaced with --force only; checked before any work."""
    io_outputs.check_unlocked(out / "run")
    if out.is_file():
        raise RefineError("the output path is a file; give a folder for the demo", where=str(out))
    data = out / "data"
    if not force and ((data.is_dir() and any(data.iterdir())) or (out / "run" / "run.json").exists()):
        raise RefineError("the folder holds an earlier demo; pass --force to replace it", where=str(out))
    io_outputs.check_writable(out, "demo")


@app.command(cls=Command)
@handle_errors
def init(
    path: Path = typer.Argument(Path("refine.toml"), help="Where to write the commented config template."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented refine.toml template to edit for your column names."""
    io_outputs.check_output_file(path, force=force, what="config template")
    io_runs.write_text(path, io_config.CONFIG_TEMPLATE)
    typer.echo(str(path))


RunOption = typer.Option(..., "--run", help="The run folder holding the proposal.")


@app.command(cls=Command)
@handle_errors
def accept(
    proposal: str = typer.Argument(..., help="Proposal id, as in proposals.json and the report."),
    run_dir: Path = RunOption,
    reason: str = typer.Option("", "--reason", help="Why (optional for an acceptance)."),
    force: bool = typer.Option(False, "--force", help="Accept a proposal that was not confirmed."),
) -> None:
    """Accept a proposal: the next cycle run with --previous reports against the new segments.

    Refused: a proposal that was not confirmed (unless --force), one that conflicts with an accepted
    proposal (both named), and one edited in proposals.json after the run."""
    record = decisions.decide(run_dir, proposal, "accepted", reason, force=force)
    note = "" if record["confirmed"] else " (not confirmed: accepted with --force)"
    typer.echo(f"accepted {record['proposal']}: {record['rule']}{note}")


@app.command(cls=Command)
@handle_errors
def reject(
    proposal: str = typer.Argument(..., help="Proposal id, as in proposals.json and the report."),
    run_dir: Path = RunOption,
    reason: str = typer.Option(..., "--reason", help="Why it was rejected (kept in the history)."),
) -> None:
    """Reject a proposal, with the reason, so the next cycle and the next person know."""
    record = decisions.decide(run_dir, proposal, "rejected", reason)
    typer.echo(f"rejected {record['proposal']}: {record['reason']}")


@app.command(cls=Command)
@handle_errors
def history(
    runs: Path = typer.Argument(Path("."), help="Folder holding run folders (searched recursively)."),
    chart: Optional[Path] = typer.Option(
        None, "--chart", help="Also write the trend (score, sentiment, top themes) as an HTML page with charts."
    ),
    force: bool = typer.Option(False, "--force", help="Replace the --chart file if it exists."),
) -> None:
    """List cycles, their proposals and decisions, and the trend of score, sentiment, themes and what was new."""
    if chart is not None:
        if chart.is_dir():
            raise RefineError("--chart is a folder; give the .html file to write", where=str(chart))
        io_outputs.check_output_file(chart, force=force, what="--chart")
    cycles = decisions.history(runs)
    if not cycles:
        typer.echo(f"no finished runs under {runs}")
        return
    for past in cycles:
        typer.echo(
            f"{past.started}  {past.folder}  {past.feedback} comments, {past.proposals} proposals "
            f"({past.confirmed} confirmed)"
        )
        for d in past.decisions:
            why = f" — {d['reason']}" if d.get("reason") else ""
            typer.echo(f"    {d['decision']:<8} {d['proposal']}  {d['rule']}{why}")
    result = insights_history.trend(runs)
    typer.echo("trend (score, mean sentiment, negative share; emerging / fading themes):")
    for point in result.cycles:
        score = "n/a" if point.score is None else f"{point.score:+.1f}"
        sentiment = "n/a" if point.sentiment is None else f"{point.sentiment:+.2f}"
        negative = "n/a" if point.negative_share is None else f"{100 * point.negative_share:.0f}%"
        new = "; ".join([f"+ {label}" for label in point.emerging] + [f"- {label}" for label in point.fading])
        typer.echo(
            f"  {Path(point.folder).name:<24} score {score:>6}  sentiment {sentiment}  negative {negative}  {new}"
        )
    if chart is not None:
        io_runs.write_text(chart, insights_history.trend_page(result))
        typer.echo(str(chart))


@app.command()
@handle_errors
def assign(
    run_dir: Path = typer.Option(..., "--run", help="The run folder whose accepted proposals to apply."),
    customers: Optional[Path] = typer.Option(
        None, "--customers", "-c", help="A fresh customer table (the run's columns); default: [customers] database."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="The CSV to write: customer id, segment, new segment."),
    force: bool = typer.Option(False, "--force", help="Replace the --out file if it exists (never an input)."),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Fail (exit 2, nothing written) on a warning: a rule matching no customer, a changed rule column.",
    ),
) -> None:
    """Apply a run's accepted proposals to a fresh customer table and write each customer's new segment."""
    result = assignment.assign_segments(run_dir, customers, out, force=force, strict=strict)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{result.customers} customers: {result.changed} change segment, {result.conflicts} matched by more than "
        f"one accepted rule (resolved: a new segment first, then a split, then the higher-ranked proposal), "
        f"{result.rejected} rows rejected{' (' + str(result.rejects_path) + ')' if result.rejects_path else ''}; "
        f"accepted proposals applied: {', '.join(result.accepted) or 'none'}"
    )
    typer.echo(str(result.out))


app.add_typer(sentiment_app, name="sentiment")
app.add_typer(themes_app, name="themes")
app.add_typer(ab_app, name="ab")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
