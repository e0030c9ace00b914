"""The refine command line: a thin Typer layer over the library.

Each command parses its options, loads the config, calls one library function and prints.
A user mistake (RefineError) prints one line on stderr and exits with status 2, no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from refine.cli_common import handle_errors
from refine.errors import RefineError

app = typer.Typer(
    help="refine: propose segment merges, splits and new segments from customer feedback, with evidence, "
    "A/B plans and a stakeholder report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# shared options, defined once
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress messages or bars.")
SeedOption = typer.Option(None, "--seed", help="Random seed (overrides [run] seed in the config).")


@app.command()
@handle_errors
def run(
    feedback: Path = typer.Option(..., "--feedback", "-f", help="Feedback file: CSV, TSV, Parquet or JSONL."),
    customers: Path = typer.Option(..., "--customers", "-c", help="Customer table with today's segments."),
    config: Path = typer.Option(..., "--config", help="refine.toml mapping your column names (see `refine init`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to write."),
    previous: Optional[Path] = typer.Option(
        None, "--previous", help="Last cycle's run folder: keep topic ids, compare."
    ),
    seed: Optional[int] = SeedOption,
    quiet: bool = QuietOption,
) -> None:
    """Run one refinement cycle: ingest, embed, sentiment, topics, join, propose, report."""
    from refine.config import load_config
    from refine.pipeline import run_cycle

    settings = load_config(config, overrides={"run": {"seed": seed}})
    result = run_cycle(feedback, customers, settings, out, previous=previous, quiet=quiet)
    _print_summary(result, quiet)


def _print_summary(result, quiet: bool) -> None:
    if not quiet:
        confirmed = sum(p["confirmed"] for p in result.proposals)
        typer.echo(
            f"{len(result.proposals)} proposals ({confirmed} confirmed on holdout), "
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
    quiet: bool = QuietOption,
) -> None:
    """Generate a synthetic company with planted structure (truth.json) and run a cycle on it."""
    from refine.config import load_config
    from refine.pipeline import run_cycle
    from refine.synth import generate_company, write_demo_data

    company = generate_company(seed, n_customers=customers, response_rate=response_rate, null=null)
    paths = write_demo_data(out / "data", company)
    if not quiet:
        typer.echo(f"demo data: {out / 'data'} (planted structure in truth.json)", err=True)
    settings = load_config(paths["config"])
    result = run_cycle(paths["feedback"], paths["customers"], settings, out / "run", quiet=quiet)
    _print_summary(result, quiet)


@app.command()
@handle_errors
def init(
    path: Path = typer.Argument(Path("refine.toml"), help="Where to write the commented config template."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented refine.toml template to edit for your column names."""
    from refine.config import CONFIG_TEMPLATE

    if path.exists() and not force:
        raise RefineError("file exists (use --force to overwrite)", where=str(path))
    path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    typer.echo(str(path))


RunOption = typer.Option(..., "--run", help="The run folder holding the proposal.")


@app.command()
@handle_errors
def accept(
    proposal: str = typer.Argument(..., help="Proposal id, as in proposals.json and the report."),
    run_dir: Path = RunOption,
    reason: str = typer.Option("", "--reason", help="Why (optional for an acceptance)."),
) -> None:
    """Accept a proposal: the next cycle run with --previous reports against the new segments."""
    from refine.decisions import decide

    record = decide(run_dir, proposal, "accepted", reason)
    typer.echo(f"accepted {record['proposal']}: {record['rule']}")


@app.command()
@handle_errors
def reject(
    proposal: str = typer.Argument(..., help="Proposal id, as in proposals.json and the report."),
    run_dir: Path = RunOption,
    reason: str = typer.Option(..., "--reason", help="Why it was rejected (kept in the history)."),
) -> None:
    """Reject a proposal, with the reason, so the next cycle and the next person know."""
    from refine.decisions import decide

    record = decide(run_dir, proposal, "rejected", reason)
    typer.echo(f"rejected {record['proposal']}: {record['reason']}")


@app.command()
@handle_errors
def history(
    runs: Path = typer.Argument(Path("."), help="Folder holding run folders (searched recursively)."),
) -> None:
    """List cycles, their proposals and the decisions taken on them."""
    from refine.decisions import history as list_history

    cycles = list_history(runs)
    if not cycles:
        typer.echo(f"no finished runs under {runs}")
        return
    for cycle in cycles:
        typer.echo(
            f"{cycle.started}  {cycle.folder}  {cycle.feedback} comments, {cycle.proposals} proposals "
            f"({cycle.confirmed} confirmed)"
        )
        for d in cycle.decisions:
            why = f" — {d['reason']}" if d.get("reason") else ""
            typer.echo(f"    {d['decision']:<8} {d['proposal']}  {d['rule']}{why}")


def _mount_subcommands() -> None:
    from refine.cli_ab import ab_app
    from refine.cli_sentiment import sentiment_app
    from refine.cli_themes import themes_app

    app.add_typer(sentiment_app, name="sentiment")
    app.add_typer(themes_app, name="themes")
    app.add_typer(ab_app, name="ab")


_mount_subcommands()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
