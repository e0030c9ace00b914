"""run_cycle: the one place where the stages are wired, top to bottom in the order the data flows.

ingest -> embed -> sentiment -> topics -> join -> profile -> propose -> report
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from refine import __version__
from refine import schemas as S
from refine.config import RefineConfig, offline_env
from refine.errors import RefineError

OUTPUT_FILES = [
    "feedback.parquet",
    "rejects.csv",
    "topics.json",
    "segments.parquet",
    "proposals.json",
    "assignments.parquet",
    "report.html",
    "report.md",
    "run.json",
]


def _check_out_dir(out_dir: Path) -> None:
    """A run goes into a new or empty folder, or replaces an earlier run in its own folder; nothing else."""
    from refine.runs import check_output_folder

    if out_dir.is_dir() and (out_dir / "decisions.json").exists():
        raise RefineError(
            "this folder holds decisions (refine accept / reject) on the run in it; write the new "
            "run to another folder so they stay with the run they were made on",
            where=str(out_dir),
        )
    check_output_folder(out_dir, OUTPUT_FILES, what="run")


def _previous_topics(previous: Path) -> list[dict]:
    """Last cycle's topics (kept and fading), from a finished run folder."""
    from refine.runs import read_json

    if not previous.is_dir():
        raise RefineError("--previous must be the folder of an earlier run", where=str(previous))
    if not (previous / "run.json").exists():
        raise RefineError("--previous is not a finished refine run (no run.json)", where=str(previous))
    doc = read_json(previous / "topics.json", "previous run's topics")
    topics = doc.get("topics", []) if isinstance(doc, dict) else None
    fading = doc.get("fading", []) if isinstance(doc, dict) else None
    if (
        not isinstance(topics, list)
        or not isinstance(fading, list)
        or not all(
            isinstance(t, dict) and isinstance(t.get("id"), int) and isinstance(t.get("centroid"), list)
            for t in topics + fading
        )
    ):
        raise RefineError(
            "previous run's topics.json is not a refine topics file (topics with ids and centroids)",
            where=str(previous / "topics.json"),
        )
    return topics + fading


@dataclass
class CycleResult:
    """Everything one cycle produced, in memory; the run folder holds the same on disk."""

    out_dir: Path
    feedback: pd.DataFrame
    customers: pd.DataFrame
    rejects: pd.DataFrame
    topics: list[dict]
    segments: pd.DataFrame
    proposals: list[dict]
    stopped: list[dict]
    method: dict
    assignments: pd.DataFrame
    manifest: dict
    comparison: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)
    llm_summary: str | None = None  # the optional machine-written summary paragraph

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"


class Progress:
    """Stage messages and progress bars; silent when quiet."""

    def __init__(self, quiet: bool = False, echo: Callable[[str], None] | None = None):
        self.quiet = quiet
        self.echo = echo or (lambda message: print(message, file=sys.stderr))
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, detail: str = ""):
        if not self.quiet:
            self.echo(f"- {name}{': ' + detail if detail else ''}")
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"refine": __version__, "python": platform.python_version()}
    for package in (
        "torch",
        "transformers",
        "sentence-transformers",
        "hdbscan",
        "scikit-learn",
        "pandas",
        "numpy",
        "scipy",
    ):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out


def run_cycle(
    feedback_path: str | Path,
    customers_path: str | Path,
    config: RefineConfig,
    out_dir: str | Path,
    *,
    previous: str | Path | None = None,
    quiet: bool = False,
    echo: Callable[[str], None] | None = None,
) -> CycleResult:
    """Run one monthly cycle and write the run folder.

    Args:
        feedback_path: the month's feedback (CSV / TSV / Parquet / JSONL).
        customers_path: the customer table with today's segments.
        config: column mapping and settings (see refine.config).
        out_dir: the run folder to write (created if needed).
        previous: last month's run folder, to keep topic ids and compare.
        quiet: no progress messages or bars.
        echo: where progress messages go (stderr by default).

    Returns:
        CycleResult; ``result.report_path`` is the stakeholder report.

    Example:
        >>> config = load_config("refine.toml")
        >>> result = run_cycle("feedback.csv", "customers.csv", config, "runs/2026-11")
    """
    from refine.distributed import Engine

    # [run] engine = "dask": a cluster is started (or reached) on first use and closed when the run ends
    with Engine(config.run) as engine:
        return _run_cycle(
            feedback_path, customers_path, config, out_dir, previous=previous, quiet=quiet, echo=echo, engine=engine
        )


def _run_cycle(
    feedback_path: str | Path,
    customers_path: str | Path,
    config: RefineConfig,
    out_dir: str | Path,
    *,
    previous: str | Path | None,
    quiet: bool,
    echo: Callable[[str], None] | None,
    engine,
) -> CycleResult:
    from refine import propose as propose_module
    from refine import rules as rules_module
    from refine import stats as stats_module
    from refine import topics as topics_module
    from refine.ingest import ingest, rule_columns
    from refine.llm import apply_labels, executive_summary, label_topics, manifest_entry, summary_context
    from refine.memo import Digest, StageMemo, code_digest
    from refine.propose import ProposalResult, propose, proposed_assignments
    from refine.report import write_report
    from refine.runs import write_csv, write_json, write_parquet
    from refine.segments import join_segments, profile_segments, respondents_table
    from refine.sentiment import CachedScorer, cached_scorer
    from refine.topics import TopicModel, fit_topics

    offline_env()
    started = datetime.now(UTC)
    out_dir = Path(out_dir)
    progress = Progress(quiet, echo)
    seed = config.run.seed
    _check_out_dir(out_dir)
    if config.cache_dir.exists() and not config.cache_dir.is_dir():
        raise RefineError(
            "the cache folder is a file ([run] cache_dir or $REFINE_CACHE_DIR); give a folder",
            where=str(config.cache_dir),
        )
    previous_topics = _previous_topics(Path(previous)) if previous is not None else None

    with progress.stage("ingest", f"{Path(feedback_path).name} + {Path(customers_path).name}"):
        data = ingest(feedback_path, customers_path, config)
    feedback = data.feedback
    applied: list[dict] = []
    if previous is not None:
        from refine.decisions import accepted_proposals, redefine_segments

        # last month's accepted proposals redefine the segments this cycle reports against
        data.customers, applied = redefine_segments(data.customers, accepted_proposals(Path(previous)), config)
        if applied and not quiet:
            progress.echo(f"  {len(applied)} accepted proposal(s) from {previous} applied to the segments")
    if not quiet:
        c = data.counts
        progress.echo(
            f"  feedback {c['feedback_in']} in, {c['feedback_accepted']} accepted, "
            f"{c['feedback_rejected']} rejected; customers {c['customers_in']} in, "
            f"{c['customers_accepted']} accepted, {c['customers_rejected']} rejected"
        )
        for warning in data.warnings:
            progress.echo(f"  warning: {warning}")

    embedder = engine.embedder(config, show_progress=not quiet)  # documents and aspect sentences alike
    where = f" on Dask ({config.run.scheduler or 'local cluster'})" if engine.distributed else ""
    with progress.stage("embed", f"{len(feedback)} texts with {embedder.model_id}{where}"):
        embeddings = embedder.encode(feedback[S.TEXT].tolist())
    cache_use = {"documents": {"hits": embedder.last_hits, "computed": embedder.last_computed}}
    if not quiet:
        progress.echo(f"  {embedder.last_hits} from cache, {embedder.last_computed} computed")

    with progress.stage("sentiment", config.model.sentiment):
        scorer = cached_scorer(
            engine.scorer(config.model.sentiment, device=config.model.device), config.cache_dir, embedder.model_id
        )
        sentiment = scorer.score(feedback[S.TEXT].tolist(), embeddings)
        sentiment_use: dict[str, dict[str, int]] = {}
        if isinstance(scorer, CachedScorer):
            sentiment_use["documents"] = {"hits": scorer.last_hits, "computed": scorer.last_computed}
        feedback = pd.concat([feedback.reset_index(drop=True), sentiment.reset_index(drop=True)], axis=1)

    # a stored topic fit / proposal search is reused when everything it reads is unchanged (refine.memo)
    memo = StageMemo(config.cache_dir if config.run.reuse else None)
    versions = _versions()  # refine's and the libraries' versions: part of every stage key
    with progress.stage("topics", "reduce + HDBSCAN + keywords"):
        texts = feedback[S.TEXT].tolist()
        key = Digest(
            "topics",
            versions,
            code_digest(topics_module),
            texts,
            np.asarray(embeddings),
            dataclasses.asdict(config.topics),
            seed,
            previous_topics,
        ).hexdigest()
        topic_model, reused = memo.reuse_or_compute(
            "topics",
            key,
            lambda: fit_topics(
                texts, embeddings, config.topics, seed=seed, previous=previous_topics, show_progress=not quiet
            ),
            save=TopicModel.to_payload,
            restore=TopicModel.from_payload,
        )
        if reused and not quiet:
            progress.echo("  reused the stored fit (same texts, embeddings, settings, code and libraries)")
        feedback[S.TOPIC_ID] = topic_model.doc_topics.astype(int)
        labels = {t.id: t.label for t in topic_model.topics}
        feedback[S.TOPIC_LABEL] = feedback[S.TOPIC_ID].map(labels).fillna("no topic")

    with progress.stage("aspects", "sentiment per topic, sentence by sentence"):
        from refine.aspects import aspect_sentiment

        if isinstance(scorer, CachedScorer):
            scorer.last_hits = scorer.last_computed = 0  # counted again for the sentences
        aspects = aspect_sentiment(feedback, embeddings, embedder=embedder, scorer=scorer, topic_model=topic_model)
        document_sentiment = feedback[feedback[S.TOPIC_ID] >= 0].groupby(S.TOPIC_ID)[S.SENTIMENT_SCORE].mean()
        topics = topic_model.to_records(mean_sentiment=aspects.topic_sentiment)
        for record in topics:
            record["sentences"] = aspects.topic_sentences.get(record["id"], 0)
            doc = document_sentiment.get(record["id"])
            record["comment_sentiment"] = None if doc is None else round(float(doc), 4)
        topic_model.method["aspect_sentences"] = len(aspects.sentences)
        cache_use["sentences"] = {"hits": embedder.last_hits, "computed": embedder.last_computed}
        if isinstance(scorer, CachedScorer):
            sentiment_use["sentences"] = {"hits": scorer.last_hits, "computed": scorer.last_computed}

    llm_status: dict[str, str] = {}
    if config.llm.provider != "none":
        with progress.stage("llm labels", f"{config.llm.provider}: {config.llm.model}"):
            llm_labels, llm_status["labels"] = label_topics(topics, config.llm)
            apply_labels(topics, llm_labels)
            labels.update(llm_labels)
            feedback[S.TOPIC_LABEL] = feedback[S.TOPIC_ID].map(labels).fillna("no topic")

    with progress.stage("join", "segments and outcomes"):
        feedback = join_segments(feedback, data.customers, config)
        topic_ids = sorted(labels)
        segments = profile_segments(feedback, data.customers, config, topic_ids)
        respondents = respondents_table(feedback, topic_ids)

    with progress.stage("propose", "merge / split / new, confirmed on holdout"):
        allowed = rule_columns(data.attributes, config)
        key = Digest(
            "propose",
            versions,
            code_digest(propose_module, stats_module, rules_module),
            data.customers,
            feedback,
            respondents,
            config.to_dict(),
            allowed,
            sorted(labels.items()),
            seed,
        ).hexdigest()
        result, reused = memo.reuse_or_compute(
            "propose",
            key,
            lambda: propose(
                data.customers, feedback, respondents, config, rule_columns=allowed, topic_labels=labels, seed=seed
            ),
            save=lambda r: ({"proposals": r.proposals, "stopped": r.stopped, "method": r.method}, {}),
            restore=lambda document, _: ProposalResult(**document),
        )
        if reused and not quiet:
            progress.echo("  reused the stored search (same customers, feedback, config, code and libraries)")
        assignments = proposed_assignments(data.customers, result.proposals, config)

    llm_summary = None
    if config.llm.provider != "none":
        with progress.stage("llm summary", f"{config.llm.provider}: {config.llm.model}"):
            llm_summary, llm_status["summary"] = executive_summary(
                summary_context(topics, result.proposals, segments, feedback), config.llm
            )

    comparison = None
    if previous is not None:
        from refine.report import compare_with_previous

        comparison = compare_with_previous(Path(previous), topics, segments, topic_model.fading)

    manifest = {
        "refine_version": __version__,
        "started": started.isoformat(timespec="seconds"),
        "inputs": data.inputs,
        "counts": data.counts,
        "warnings": data.warnings,
        "config": config.to_dict(),
        "config_source": config.source,
        "seed": seed,
        "models": {"embedding": embedder.model_id, "sentiment": scorer.model_id},
        "llm": manifest_entry(config.llm, llm_status),
        "engine": engine.describe(),
        "embedding_cache": dict(cache_use, computed=sum(v["computed"] for v in cache_use.values())),
        "sentiment_cache": sentiment_use or "off",
        "stage_cache": memo.used if config.run.reuse else "off",
        "topic_method": topic_model.method,
        "proposal_method": result.method,
        "versions": versions,
        "previous": str(Path(previous).resolve()) if previous is not None else None,
        "applied_decisions": applied,
    }
    cycle = CycleResult(
        out_dir=out_dir,
        feedback=feedback,
        customers=data.customers,
        rejects=data.rejects,
        topics=topics,
        segments=segments,
        proposals=result.proposals,
        stopped=result.stopped,
        method=result.method,
        assignments=assignments,
        manifest=manifest,
        comparison=comparison,
        timings=progress.timings,
        llm_summary=llm_summary,
    )

    with progress.stage("report", str(out_dir)):
        out_dir.mkdir(parents=True, exist_ok=True)
        # run.json goes last: a folder without it is an unfinished run
        (out_dir / "run.json").unlink(missing_ok=True)
        for stale in out_dir.glob(".*.tmp"):  # half-written files of a run killed while writing
            stale.unlink(missing_ok=True)
        stored = feedback[
            [
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
        ]
        write_parquet(out_dir / "feedback.parquet", stored)
        write_csv(out_dir / "rejects.csv", data.rejects)
        from refine.runs import clean_json

        write_json(
            out_dir / "topics.json",
            clean_json(
                {
                    "topics": [t for t in topics if t.get("status") != "fading"],
                    "fading": [t for t in topics if t.get("status") == "fading"],
                    "method": topic_model.method,
                }
            ),
        )
        write_parquet(out_dir / "segments.parquet", segments)
        write_json(
            out_dir / "proposals.json",
            clean_json({"proposals": result.proposals, "stopped": result.stopped, "method": result.method}),
        )
        write_parquet(out_dir / "assignments.parquet", assignments)
        write_report(cycle)
    manifest["timings"] = progress.timings
    manifest["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_json(out_dir / "run.json", clean_json(manifest))
    return cycle
