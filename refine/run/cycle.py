"""run_cycle: the one place where the stages are wired, top to bottom in the order the data flows.

ingest -> embed -> sentences -> sentiment -> topics -> aspects -> (llm labels) -> join -> propose
-> (llm summary) -> compare -> manifest -> write (run folder + report)

``run_cycle`` calls one function per stage; each stage function below takes what the stages
before it produced and returns its own result (frames and typed records, never file paths).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refine import __version__
from refine import schemas as S
from refine import stats as stats_module
from refine.errors import RefineError
from refine.insights.followup import (
    carried_counts,
    carried_segments,
    carried_warning,
    followups,
    previous_profiles,
    segment_name,
)
from refine.insights.stage import CycleInsights, compute_insights, insights_key
from refine.io import privacy as privacy_module
from refine.io.config import DEFAULT_MODEL, RefineConfig, offline_env
from refine.io.ingest import NoUsableRows, ingest, rule_columns
from refine.io.outputs import check_unlocked, folder_lock, same_file
from refine.io.runs import check_output_folder, proposal_digest, read_json, write_csv, write_json
from refine.io.sources import describe
from refine.memo import Digest, StageMemo, code_digest
from refine.progress import Progress
from refine.report.llm import apply_labels, executive_summary, label_topics, manifest_entry, summary_context
from refine.report.render import compare_with_previous
from refine.run.engines import Engine
from refine.run.folders import write_run
from refine.run.results import CycleResult, RunManifest
from refine.run.reuse import cached_ingest
from refine.segments import merges as merges_module
from refine.segments import model as proposals_module
from refine.segments import profiles as profiles_module
from refine.segments import propose as propose_module
from refine.segments import rules as rules_module
from refine.segments import search as search_module
from refine.segments.decisions import accepted_proposals, redefine_segments
from refine.segments.model import Proposal, ProposalMethod, StoppedCandidate
from refine.segments.profiles import join_segments, profile_segments, respondents_table
from refine.segments.propose import ProposalResult, propose, proposed_assignments
from refine.segments.search import observed_columns
from refine.text import embed_cost
from refine.text.embed_multilingual import build_multilingual_embedder
from refine.text.language import LanguageCache
from refine.text.sentences import SentenceTable, build_sentences, pooled_comments, split_texts, whole_texts
from refine.text.sentiment import scorers as scorers_module
from refine.text.sentiment.review import load_review_model, review_model_folder
from refine.text.sentiment.scorers import CachedScorer, cached_scorer
from refine.text.sentiment.stage import FeedbackSentiment, load_multilingual_head, pooled_aggregator, theme_space
from refine.text.themes import Theme, ThemeResult, fit_themes, load_codeframe
from refine.text.themes import codeframe as codeframe_module
from refine.text.themes import entities as entities_module
from refine.text.themes import model as model_module
from refine.text.themes import naming as naming_module
from refine.text.themes import stage as stage_module
from refine.text.themes import topics as topics_module
from refine.versions import versions

OUTPUT_FILES = [
    "feedback.parquet",
    "rejects.csv",
    "topics.json",
    "segments.parquet",
    "proposals.json",
    "assignments.parquet",
    "customers.parquet",
    "insights.json",
    "report.html",
    "report.md",
    "run.json",
]


def _check_out_dir(out_dir: Path, force: bool) -> None:
    """A run goes into a new or empty folder, or replaces an earlier run in its own folder (a finished one with
    --force only, never one a running cycle holds); nothing else."""
    check_unlocked(out_dir)
    if out_dir.is_dir() and (out_dir / "decisions.json").exists():
        raise RefineError(
            "this folder holds decisions (refine accept / reject) on the run in it; write the new "
            "run to another folder so they stay with the run they were made on",
            where=str(out_dir),
        )
    check_output_folder(out_dir, OUTPUT_FILES, what="run", force=force, finished="run.json")


def _preflight(config: RefineConfig, out_dir: Path, force: bool, previous, *, scorer_given: bool) -> dict | None:
    """Every check that needs no input row, before any work: the run folder, the cache folder, the model
    settings, the codeframe file and --previous (whose topics.json it returns)."""
    _check_out_dir(out_dir, force)
    if config.cache_dir.exists() and not config.cache_dir.is_dir():
        raise RefineError(
            "the cache folder is a file ([run] cache_dir or $REFINE_CACHE_DIR); give a folder",
            where=str(config.cache_dir),
        )
    check_model_settings(config, scorer_given=scorer_given)
    if config.themes.codeframe:  # read again by the topics stage; a bad file must not wait for the embeddings
        load_codeframe(config.themes.codeframe_path(config))
    if previous is None:
        return None
    if same_file(previous, out_dir):
        raise RefineError("--previous is the folder this run would write; name last month's run", where=str(out_dir))
    return _previous_topics(Path(previous))


def _previous_topics(previous: Path) -> dict:
    """Last cycle's topics.json document (topics, fading and, from themes on, parents), from a finished run folder."""
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
    return doc


@dataclass
class _Cycle:
    """What every stage of one cycle shares: settings, progress, caches and what they counted."""

    config: RefineConfig
    out_dir: Path
    previous: Path | None
    progress: Progress
    engine: Engine
    quiet: bool
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    memo: StageMemo = field(default_factory=lambda: StageMemo(None))
    applied: list[dict] = field(default_factory=list)  # last cycle's accepted proposals applied to the segments
    accepted: list[dict] = field(default_factory=list)  # last cycle's accepted proposals (applied or carried)
    original_segments: Any = None  # the segment column before they were applied (a merge's parts)
    versions: dict[str, str] = field(default_factory=dict)
    embedding_use: dict[str, dict[str, int]] = field(default_factory=dict)
    sentiment_use: dict[str, dict[str, int]] = field(default_factory=dict)
    llm_status: dict[str, str] = field(default_factory=dict)
    sentiment: Any = None  # the SentimentResult (refine.text.sentiment.stage)
    multilingual_embedder: Any = None  # USE multilingual behind the cache, built when a comment needs it
    theme_space: dict = field(default_factory=dict)
    split: pd.DataFrame | None = None  # the comments' sentences, split once for the estimate and the sentences stage
    estimate: Any = None  # refine.text.embed_cost.Estimate, said before the first embedding
    embedded_s: float | None = None  # seconds the embedder spent on the comments and their sentences

    @property
    def seed(self) -> int:
        return self.config.run.seed

    def note(self, message: str) -> None:
        if not self.quiet:
            self.progress.echo(f"  {message}")

    def warn(self, message: str) -> None:
        """A warning: printed even with --quiet (which hides progress only)."""
        self.progress.warn(message)

    def count(self, use: dict[str, dict[str, int]], part: str, counter) -> None:
        """Cache hits and computed items of a cached embedder or scorer, for run.json."""
        if hasattr(counter, "last_hits"):
            use[part] = {"hits": counter.last_hits, "computed": counter.last_computed}


def run_cycle(
    feedback_path: str | Path | None,
    customers_path: str | Path | None,
    config: RefineConfig,
    out_dir: str | Path,
    *,
    previous: str | Path | None = None,
    quiet: bool = False,
    echo: Callable[[str], None] | None = None,
    embedder=None,
    scorer=None,
    embeddings: np.ndarray | None = None,
    force: bool = False,
) -> CycleResult:
    """Run one monthly cycle and write the run folder.

    Args:
        feedback_path: the month's feedback (CSV / TSV / Parquet / JSONL); None when
            ``[feedback] database`` names a table or query instead.
        customers_path: the customer table with today's segments; None with ``[customers] database``.
        config: column mapping and settings (see refine.io.config).
        out_dir: the run folder to write (created if needed).
        previous: last month's run folder, to keep topic ids and compare.
        quiet: no progress messages or bars; warnings are still printed.
        echo: where progress messages go (stderr by default).
        embedder: anything with ``model_id`` and ``encode(texts)``, used instead of the configured model
            (e.g. ``refine.text.embed.HashingEmbedder()`` for a dry run); it is not cached.
        scorer: a sentiment scorer (``model_id`` and ``score(texts, embeddings)``) instead of ``[model] sentiment``;
            it then scores every comment (no `[model] review` model for long ones).
        embeddings: precomputed comment embeddings, row i for accepted feedback row i (``result.embeddings``
            of an earlier cycle on the same files); sentences are still embedded with the embedder.
        force: replace a finished run in `out_dir` whole (no file of it survives); never a folder another
            running cycle holds (refine.io.outputs.folder_lock).

    Returns:
        CycleResult; ``result.report_path`` is the stakeholder report.

    Example:
        >>> config = load_config("refine.toml")
        >>> result = run_cycle("feedback.csv", "customers.csv", config, "runs/2026-11")
    """
    offline_env()
    out_dir = Path(out_dir)
    previous_topics = _preflight(config, out_dir, force, previous, scorer_given=scorer is not None)
    # [run] engine = "dask": a cluster is started (or reached) on first use and closed when the run ends
    with folder_lock(out_dir), Engine(config.run) as engine:
        cycle = _Cycle(
            config, out_dir, Path(previous) if previous is not None else None, Progress(quiet, echo), engine, quiet
        )
        data = ingest_stage(cycle, feedback_path, customers_path)
        embedder = embedder_for(cycle, embedder)
        cycle.estimate = estimate_stage(cycle, data, embedder, embeddings is not None)
        vectors = embed_stage(cycle, data.feedback, embedder, embeddings)
        vectors, sentences = sentences_stage(cycle, data.feedback, vectors, embedder)
        feedback, scorer = sentiment_stage(cycle, data.feedback, vectors, sentences, scorer, embedder.model_id)
        theme_vectors, theme_sentences, theme_embedder = theme_space_stage(
            cycle, feedback, vectors, sentences, embedder
        )
        feedback, topic_model = topics_stage(
            cycle, feedback, theme_vectors, previous_topics, theme_sentences, theme_embedder
        )
        topics, sentences_frame = aspects_stage(cycle, feedback, theme_sentences, topic_model)
        feedback = with_topic_sentiment(feedback, sentences_frame)
        feedback, topics = llm_labels_stage(cycle, feedback, topics)
        feedback, segments, respondents = join_stage(cycle, feedback, data.customers, topics)
        proposals = propose_stage(cycle, data, feedback, respondents, topics)
        insights = insights_stage(cycle, data, feedback, topics, proposals.proposals, embedder, vectors)
        llm_summary = llm_summary_stage(cycle, topics, proposals.proposals, segments, feedback)
        comparison = compare_stage(cycle, topics, segments, data.customers, feedback)
        manifest = build_manifest(cycle, data, embedder, scorer, topic_model, proposals)
        result = CycleResult(
            out_dir=out_dir,
            feedback=feedback,
            customers=data.customers,
            rejects=data.rejects,
            topics=topics,
            segments=segments,
            proposals=proposals.proposals,
            stopped=proposals.stopped,
            method=proposals.method,
            assignments=proposals.assignments,
            manifest=manifest,
            comparison=comparison,
            timings=cycle.progress.timings,
            llm_summary=llm_summary,
            embeddings=vectors,
            sentences=sentences_frame,
            sentiment=cycle.sentiment,
            insights=insights,
            parents=topic_model.parent_topics(),
        )
        written = write_stage(cycle, result)
        _record_stage_seconds(cycle, len(data.feedback))
        return written


def estimate_cycle(
    feedback_path: str | Path | None,
    customers_path: str | Path | None,
    config: RefineConfig,
    out_dir: str | Path,
    *,
    previous: str | Path | None = None,
    quiet: bool = False,
    echo: Callable[[str], None] | None = None,
    force: bool = False,
) -> embed_cost.Estimate:
    """What `run_cycle` with these arguments would cost (`refine run --estimate`), and nothing else.

    The same checks as the run, then ingest, the sentence split and a look into the embedding cache:
    no text is embedded, no model is loaded and nothing is written (not the run folder, not rejects.csv).
    """
    offline_env()
    _preflight(config, Path(out_dir), force, previous, scorer_given=False)
    with Engine(config.run) as engine:
        cycle = _Cycle(config, Path(out_dir), None, Progress(quiet, echo), engine, quiet)
        with cycle.progress.stage("ingest", "reading both inputs to count them"):
            try:
                data = ingest(feedback_path, customers_path, config)
            except NoUsableRows as exc:
                raise RefineError(str(exc)) from None
        return estimate_stage(cycle, data, embedder_for(cycle), False)


def _record_stage_seconds(cycle: _Cycle, comments: int) -> None:
    """Keep the seconds per comment of this run's stages after embedding, to calibrate the next estimate."""
    if cycle.embedded_s is None:  # an embedder passed in: its time is not told apart from the rest
        return
    timings = cycle.progress.timings
    scoring = float(timings.get("sentiment", 0.0))  # grows with the texts not scored before; the rest with comments
    rest = sum(float(v) for k, v in timings.items() if k != "ingest") - cycle.embedded_s - scoring
    new = cycle.estimate.to_embed if cycle.estimate is not None else 0
    shared = (cycle.estimate.busy + embed_cost.busy()) / 2 if cycle.estimate is not None else embed_cost.busy()
    embed_cost.record_stages(
        cycle.config.cache_dir, comments, rest, warm=new == 0, shared=shared, texts=new, scoring_s=scoring
    )


# ---- the stages, in the order run_cycle calls them ----------------------------------------------


def ingest_stage(cycle: _Cycle, feedback_path, customers_path):
    """Read, validate and redact both inputs; apply last cycle's accepted proposals to the segments."""

    def shown(path, section) -> str:
        if getattr(section, "database", ""):
            return describe(section.database, section.table, section.query)
        return Path(path).name if path is not None else "?"

    config = cycle.config
    with cycle.progress.stage(
        "ingest", f"{shown(feedback_path, config.feedback)} + {shown(customers_path, config.customers)}"
    ):
        try:
            cycle.memo = StageMemo(config.cache_dir if config.run.reuse else None)
            cycle.versions = versions()
            data = cached_ingest(cycle.memo, feedback_path, customers_path, cycle.config, cycle.versions)
        except NoUsableRows as exc:  # the run stops: the rejects it names are written first
            raise RefineError(str(exc) + _stopped_rejects(cycle.out_dir, exc.rejects)) from None
    if cycle.previous is not None:
        # last month's accepted proposals redefine the segments this cycle reports against, unless the
        # re-exported table already carries them (the CRM applied them): never twice
        cycle.accepted = accepted_proposals(cycle.previous)
        carried = carried_segments(data.customers, cycle.accepted, config)
        if carried:
            data.warnings.append(carried_warning(carried, carried_counts(data.customers, cycle.accepted, config)))
        cycle.original_segments = data.customers[config.customers.segment].copy()
        data.customers, cycle.applied = redefine_segments(
            data.customers, [p for p in cycle.accepted if segment_name(p) not in carried], cycle.config
        )
        if cycle.applied:
            cycle.note(f"{len(cycle.applied)} accepted proposal(s) from {cycle.previous} applied to the segments")
    c = data.counts
    cycle.note(
        f"feedback {c['feedback_in']} in, {c['feedback_accepted']} accepted, {c['feedback_rejected']} rejected; "
        f"customers {c['customers_in']} in, {c['customers_accepted']} accepted, {c['customers_rejected']} rejected"
    )
    for warning in data.warnings:
        cycle.warn(warning)
    return data


def _stopped_rejects(out_dir: Path, rejects: pd.DataFrame) -> str:
    """Write rejects.csv of a run that stops at ingest; the words that name it ("" where an earlier run's is kept)."""
    if (out_dir / "run.json").exists():  # an earlier finished run: its files stay whole
        return ""
    write_csv(out_dir / "rejects.csv", rejects, keys=["id"])
    return f" (every rejected row with its reason: {out_dir / 'rejects.csv'})"


def embedder_for(cycle: _Cycle, given=None):
    """The embedder a caller passed in, else the configured model behind the content-hash cache."""
    if given is not None:
        return given
    return cycle.engine.embedder(cycle.config, show_progress=not cycle.quiet, progress=cycle.progress)


def estimate_stage(cycle: _Cycle, data, embedder, given: bool) -> embed_cost.Estimate:
    """Comments, sentences, texts to embed and about how long, before the first embedding (refine.text.embed_cost)."""
    texts = data.feedback[S.TEXT].tolist()
    cycle.split = split_texts(texts)
    cut = cycle.split.loc[~cycle.split["whole"], "text"].tolist()
    docs = whole_texts(texts, cycle.split, cycle.config.model.comment_vectors)
    wanted = cut if given else [texts[i] for i in docs] + cut
    if hasattr(embedder, "missing"):
        missing, cached = embedder.missing(wanted)
    else:  # an embedder passed in, with no cache: every distinct text is embedded
        missing, cached = list(dict.fromkeys(wanted)), 0
    result = embed_cost.estimate(
        cycle.config.cache_dir,
        embedder.model_id,
        cycle.config.model.backend,
        missing,
        comments=len(texts),
        sentences=len(cut),
        cached=cached,
        customers=len(data.customers),
    )
    for line in result.lines():
        cycle.note(f"estimate: {line}")
    return result


def embed_stage(cycle: _Cycle, feedback: pd.DataFrame, embedder, given: np.ndarray | None) -> np.ndarray:
    """One embedding per comment (documents and sentences share the embedder and its cache)."""
    if given is not None:
        vectors = np.asarray(given, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(feedback):
            raise RefineError(
                f"embeddings of shape {vectors.shape} do not match the {len(feedback)} accepted feedback rows",
                where="run_cycle(embeddings=...)",
            )
        cycle.embedding_use["documents"] = {"hits": len(feedback), "computed": 0}
        return vectors
    where = f" on Dask ({cycle.config.run.scheduler or 'local cluster'})" if cycle.engine.distributed else ""
    texts = feedback[S.TEXT].tolist()
    rows = whole_texts(texts, cycle.split, cycle.config.model.comment_vectors)  # the rest: pooled sentences
    with cycle.progress.stage("embed", f"{len(rows)} texts with {embedder.model_id}{where}"):
        if len(rows) == len(texts):
            vectors = embedder.encode(texts)
        else:
            part = np.asarray(embedder.encode([texts[i] for i in rows]), dtype=np.float32) if rows else None
            # (n, 0) when every comment is pooled: the sentences stage gives them their dimension
            vectors = np.zeros((len(texts), part.shape[1] if part is not None else 0), dtype=np.float32)
            if part is not None:
                vectors[rows] = part
    cycle.count(cycle.embedding_use, "documents", embedder)
    if "documents" in cycle.embedding_use:
        use = cycle.embedding_use["documents"]
        cycle.note(f"{use['hits']} from cache, {use['computed']} computed")
    return vectors


def _reset_counts(counter) -> None:
    if hasattr(counter, "last_hits"):
        counter.last_hits = counter.last_computed = 0


def sentences_stage(cycle: _Cycle, feedback: pd.DataFrame, vectors: np.ndarray, embedder):
    """Each comment's sentences, embedded (a one-sentence comment reuses its embedding), and the comment vectors:
    as given, or with `[model] comment_vectors` mean / length each multi-sentence comment's its sentences' pool."""
    _reset_counts(embedder)
    with cycle.progress.stage("sentences", "split comments, embed the sentences of longer ones"):
        sentences = build_sentences(feedback[S.TEXT].tolist(), vectors, embedder, frame=cycle.split)
    cycle.count(cycle.embedding_use, "sentences", embedder)
    cycle.embedded_s = getattr(embedder, "spent_s", None)  # what the estimate's embedding part foretold
    return pooled_comments(vectors, feedback[S.TEXT].tolist(), sentences, cycle.config.model.comment_vectors), sentences


def sentiment_stage(cycle: _Cycle, feedback: pd.DataFrame, vectors: np.ndarray, sentences, given, embedding_id: str):
    """Language, sentiment per sentence, and per comment from its sentences (refine.text.sentiment.stage)."""
    config = cycle.config
    with cycle.progress.stage("sentiment", config.model.sentiment if given is None else given.model_id):
        base = given if given is not None else cycle.engine.scorer(config.model.sentiment, device=config.model.device)
        how = config.model.comment_vectors  # pooled comment vectors score differently: their own cache entries
        scorer = cached_scorer(base, config.cache_dir, embedding_id if how == "whole" else f"{embedding_id}+{how}")
        stage = FeedbackSentiment(
            scorer,
            aggregator=None if how == "whole" else pooled_aggregator(how),
            multilingual_head=load_multilingual_head(config.model.multilingual),
            multilingual_embedder=_multilingual_embedder(cycle),
            language_cache=_language_cache(config.cache_dir),
            review_model=None if given is not None else _review_model(config, cycle.engine),
        )
        result = stage.score(feedback[S.TEXT].tolist(), vectors, sentences=sentences)
        cycle.sentiment = result
        cycle.sentiment_use.update(stage.use)
        feedback = pd.concat([feedback.reset_index(drop=True), result.feedback_columns()], axis=1)
        # a whole-comment sentence is its comment; sentences cut from longer comments carry their own scores
        rows = sentences.frame["feedback_row"].to_numpy()
        for column in (S.SENTIMENT_SCORE, S.SENTIMENT_LABEL):
            sentences.frame[column] = feedback[column].to_numpy()[rows]
        cut = sentences.split_rows
        if len(cut):
            sentences.frame.loc[cut, S.SENTIMENT_SCORE] = result.sentences[S.SENTIMENT_SCORE].to_numpy()
            sentences.frame.loc[cut, S.SENTIMENT_LABEL] = result.sentences[S.SENTIMENT_LABEL].to_numpy()
        mix = result.language_mix()
        if len(mix) > 1 or (mix and "en" not in mix):
            cycle.note("languages: " + ", ".join(f"{code} {n}" for code, n in list(mix.items())[:8]))
    return feedback, scorer


def check_model_settings(config: RefineConfig, *, scorer_given: bool = False) -> None:
    """Fail in one line before the slow stages when a `[model]` sentiment, multilingual or review folder
    does not hold its model: a typo would otherwise surface only after every comment is embedded.

    Only the small head files are read (the packaged ones in about 0.01 s); a `transformers:` model
    and the review model's export are left to the sentiment stage. A relative folder is read from the
    working folder, then from the config file's folder (refine.io.config.load_config).
    """
    if not scorer_given:
        spec = config.model.sentiment.strip()
        if not spec.startswith("transformers:") or not spec.split(":", 1)[1].strip():
            scorers_module.load_scorer(spec)  # a head file, or the one-line error of an empty "transformers:"
        review_model_folder(config.model.review)
    load_multilingual_head(config.model.multilingual)


def _review_model(config: RefineConfig, engine: Engine | None = None):
    """The `[model] review` model behind the sentiment cache, or None.

    "default" means the packaged review model *with the default sentiment head*: a team that trained
    its own head (`[model] sentiment = "<folder>"`) keeps it for every comment unless it names a
    review model too.
    """
    spec = config.model.review.strip()
    if spec.lower() == DEFAULT_MODEL and config.model.sentiment.strip().lower() != DEFAULT_MODEL:
        return None
    if engine is not None:
        model = engine.review_model(spec, cache_dir=config.cache_dir)
    else:
        model = load_review_model(spec, cache_dir=config.cache_dir)
    if model is None or config.cache_dir is None:
        return model
    return CachedScorer(model, config.cache_dir, model.cache_key)


def _language_cache(cache_dir):
    """Language guesses of earlier runs (refine.text.language.LanguageCache), or None without a cache folder."""
    if cache_dir is None:
        return None
    return LanguageCache(cache_dir)


def _multilingual_embedder(cycle: _Cycle):
    """USE multilingual v3 behind the cache (built once per cycle; loads its weights only when a text needs it)."""
    if cycle.multilingual_embedder is None:
        encoder = cycle.engine.multilingual_encoder() if cycle.engine.distributed else None
        cycle.multilingual_embedder = build_multilingual_embedder(cycle.config.cache_dir, encoder=encoder)
    return cycle.multilingual_embedder


def theme_space_stage(cycle: _Cycle, feedback: pd.DataFrame, vectors: np.ndarray, sentences, embedder):
    """The vectors themes cluster: one multilingual space when enough comments are not in English, else `vectors`."""
    threshold = cycle.config.model.multilingual_themes
    space = theme_space(
        feedback[S.TEXT].tolist(),
        feedback["language"].tolist(),
        vectors,
        embedder,
        threshold=threshold,
        multilingual_embedder=_multilingual_embedder(cycle) if threshold < 1 else None,
    )
    cycle.theme_space = space.to_json()
    if not space.multilingual:
        return vectors, sentences, embedder
    cycle.note(
        f"{space.non_english_share:.0%} of comments are not in English: themes are clustered in one "
        f"multilingual space ({space.model_id})"
    )
    cut = sentences.split_rows
    theme_vectors = np.asarray(space.embeddings, dtype=np.float32)
    rows = sentences.frame["feedback_row"].to_numpy()
    sentence_vectors = theme_vectors[rows]  # fancy indexing: a new array already, no second copy
    if len(cut):
        sentence_vectors[cut] = space.embedder.encode(sentences.frame["text"].to_numpy()[cut].tolist())
    theme_sentences = SentenceTable(frame=sentences.frame, embeddings=sentence_vectors, whole=sentences.whole)
    return theme_vectors, theme_sentences, space.embedder


def topics_stage(cycle: _Cycle, feedback: pd.DataFrame, vectors: np.ndarray, previous_topics, sentences, embedder):
    """Themes per sentence in two levels (refine.text.themes), reused from the stage cache when nothing they read changed."""
    config = cycle.config
    codeframe = load_codeframe(config.themes.codeframe_path(config)) if config.themes.codeframe else None
    previous = ThemeResult.previous_from_json(previous_topics) if previous_topics is not None else None
    with cycle.progress.stage("topics", "themes per sentence: reduce + HDBSCAN, parents, names"):
        texts = feedback[S.TEXT].tolist()
        key = Digest(
            "themes",
            cycle.versions,
            code_digest(topics_module, stage_module, model_module, codeframe_module, naming_module, entities_module),
            texts,
            np.asarray(vectors),
            sentences.frame["text"].tolist(),
            np.asarray(sentences.embeddings),
            sentences.frame[S.SENTIMENT_SCORE].to_numpy() if S.SENTIMENT_SCORE in sentences.frame else [],
            dataclasses.asdict(config.topics),
            dataclasses.asdict(config.themes),
            [t.to_dict() for t in codeframe.themes] if codeframe is not None else None,
            embedder.model_id,
            cycle.seed,
            previous_topics,
        ).hexdigest()
        result, reused = cycle.memo.reuse_or_compute(
            "topics",
            key,
            lambda: fit_themes(
                sentences,
                vectors,
                texts,
                config.topics,
                encode=embedder.encode,
                codeframe=codeframe,
                previous=previous,
                seed=cycle.seed,
                mask=config.themes.mask_entities,
                show_progress=not cycle.quiet,
            ),
            save=ThemeResult.to_payload,
            restore=ThemeResult.from_payload,
        )
        if reused:
            cycle.note("reused the stored fit (same texts, embeddings, settings, code and libraries)")
        feedback[S.TOPIC_ID] = result.primary.astype(int)
        feedback[S.TOPIC_PARENT_ID], feedback[S.TOPIC_PARENT_LABEL] = result.parent_columns(result.primary)
    return feedback, result


def aspects_stage(cycle: _Cycle, feedback: pd.DataFrame, sentences, topic_model) -> tuple[list[Theme], pd.DataFrame]:
    """Each sentence's theme, and the themes with their sentiment (per sentence and per comment)."""
    with cycle.progress.stage("aspects", "sentiment per theme, sentence by sentence"):
        frame = sentences.frame.copy()
        frame[S.TOPIC_ID] = topic_model.sentence_theme.astype(int)
        frame[S.TOPIC_PARENT_ID], frame[S.TOPIC_PARENT_LABEL] = topic_model.parent_columns(frame[S.TOPIC_ID].to_numpy())
        document_sentiment = feedback[feedback[S.TOPIC_ID] >= 0].groupby(S.TOPIC_ID)[S.SENTIMENT_SCORE].mean()
        topics = topic_model.topics()
        for theme in topics:
            doc = document_sentiment.get(theme.id)
            theme.comment_sentiment = None if doc is None else round(float(doc), 4)
        topic_model.method["aspect_sentences"] = int(len(sentences))
        columns = ["feedback_row", "sentence_index", "text", S.TOPIC_ID, S.SENTIMENT_SCORE, S.SENTIMENT_LABEL]
        columns += [S.TOPIC_PARENT_ID, S.TOPIC_PARENT_LABEL]
    return topics, frame[[c for c in columns if c in frame.columns]]


def with_topic_sentiment(feedback: pd.DataFrame, sentences: pd.DataFrame) -> pd.DataFrame:
    """`feedback` with TOPIC_SENTIMENT: the mean sentiment of each comment's sentences in its own topic.

    A proposal quotes a topic by its most negative (or positive) comments *about that topic*: a
    comment's whole score also carries its other complaints (a late parcel makes a checkout remark
    read angrier). A comment with no topic, with no sentence in its topic, or whose sentences there
    have no score keeps its own score. `sentences` is the aspects frame: `feedback_row` is the
    comment's position in `feedback`.
    """
    feedback = feedback.copy()
    feedback[S.TOPIC_SENTIMENT] = feedback[S.SENTIMENT_SCORE].to_numpy(dtype=float)
    if len(sentences) and {"feedback_row", S.TOPIC_ID, S.SENTIMENT_SCORE} <= set(sentences.columns):
        own = sentences["feedback_row"].to_numpy()
        topic = feedback[S.TOPIC_ID].to_numpy()[own]
        on_topic = sentences[(sentences[S.TOPIC_ID].to_numpy() == topic) & (topic >= 0)]
        mean = on_topic.groupby("feedback_row")[S.SENTIMENT_SCORE].mean().dropna()
        column = feedback.columns.get_loc(S.TOPIC_SENTIMENT)
        feedback.iloc[mean.index.to_numpy(), column] = mean.to_numpy(dtype=float)
    return feedback


def _live_labels(topics: list[Theme]) -> dict[int, str]:
    return {t.id: t.label for t in topics if t.status != "fading"}


def _label_topics(feedback: pd.DataFrame, topics: list[Theme]) -> pd.DataFrame:
    labels = _live_labels(topics)
    feedback[S.TOPIC_LABEL] = feedback[S.TOPIC_ID].map(labels).fillna("no topic")
    return feedback


def llm_labels_stage(cycle: _Cycle, feedback: pd.DataFrame, topics: list[Theme]):
    """Optional: a language model rewrites the keyword labels ([llm]); the keyword labels stay on any failure."""
    llm = cycle.config.llm
    if llm.provider != "none":
        with cycle.progress.stage("llm labels", f"{llm.provider}: {llm.model}"):
            labels, cycle.llm_status["labels"] = label_topics(topics, llm)
            apply_labels(topics, labels)
    return _label_topics(feedback, topics), topics


def join_stage(cycle: _Cycle, feedback: pd.DataFrame, customers: pd.DataFrame, topics: list[Theme]):
    """The writer's segment on every comment; segment profiles; one row per respondent."""
    with cycle.progress.stage("join", "segments and outcomes"):
        feedback = join_segments(feedback, customers, cycle.config)
        topic_ids = sorted(_live_labels(topics))
        segments = profile_segments(feedback, customers, cycle.config, topic_ids)
        respondents = respondents_table(feedback, topic_ids)
    return feedback, segments, respondents


@dataclass
class _Proposals:
    proposals: list[Proposal]
    stopped: list[StoppedCandidate]
    method: ProposalMethod
    assignments: pd.DataFrame


def propose_stage(cycle: _Cycle, data, feedback: pd.DataFrame, respondents: pd.DataFrame, topics: list[Theme]):
    """Merge / split / new proposals confirmed on the holdout, reused when nothing they read changed."""
    config = cycle.config
    labels = _live_labels(topics)
    with cycle.progress.stage(
        "propose", "merge / split / new; new and split confirmed on the holdout, merges over all customers"
    ):
        allowed = rule_columns(data.attributes, config)
        key = Digest(
            "propose",
            cycle.versions,
            code_digest(  # the search, and what it reads: merges' groups, parent-theme mentions (profiles)
                propose_module,
                search_module,
                proposals_module,
                stats_module,
                rules_module,
                privacy_module,
                merges_module,
                profiles_module,
            ),
            data.customers,
            feedback,
            respondents,
            config.to_dict(),
            allowed,
            sorted(labels.items()),
            cycle.seed,
        ).hexdigest()
        result, reused = cycle.memo.reuse_or_compute(
            "propose",
            key,
            lambda: propose(
                data.customers,
                feedback,
                respondents,
                config,
                rule_columns=allowed,
                topic_labels=labels,
                seed=cycle.seed,
            ),
            save=lambda r: (r.to_json(), {}),
            restore=lambda document, _: ProposalResult.from_json(document),
        )
        if reused:
            cycle.note("reused the stored search (same customers, feedback, config, code and libraries)")
        assignments = proposed_assignments(data.customers, [p for p in result.proposals if p.confirmed], config)
    return _Proposals(result.proposals, result.stopped, result.method, assignments)


def insights_stage(cycle: _Cycle, data, feedback: pd.DataFrame, topics, proposals, embedder, vectors):
    """Theme drivers, value touched / at risk, and against --previous: score-change attribution and what is new."""
    with cycle.progress.stage("insights", "drivers, value, score change, what is new"):
        key = insights_key(
            feedback,
            data.customers,
            cycle.config,
            topics,
            proposals,
            versions=cycle.versions,
            previous=cycle.previous,
            embedder_id=embedder.model_id,
            embeddings=vectors,
        )
        insights, reused = cycle.memo.reuse_or_compute(
            "insights",
            key,
            lambda: compute_insights(
                feedback,
                data.customers,
                cycle.config,
                topics,
                proposals,
                previous=cycle.previous,
                embedder=embedder,
                embeddings=vectors,
            ),
            save=lambda result: (result.to_json(), {}),
            restore=lambda document, _: CycleInsights.from_json(document),
        )
        if reused:
            cycle.note("reused the stored insights (same feedback, customers, themes, proposals and runs before)")
    for note in insights.notes or []:
        cycle.warn(note)  # a part of the insights left out, and why
    return insights


def llm_summary_stage(cycle: _Cycle, topics, proposals, segments, feedback) -> str | None:
    """Optional: one machine-written paragraph for the executive summary ([llm])."""
    llm = cycle.config.llm
    if llm.provider == "none":
        return None
    with cycle.progress.stage("llm summary", f"{llm.provider}: {llm.model}"):
        summary, cycle.llm_status["summary"] = executive_summary(
            summary_context(topics, proposals, segments, feedback), llm
        )
    return summary


def compare_stage(cycle: _Cycle, topics, segments, customers, feedback) -> dict | None:
    """What changed since the previous cycle (--previous): emerging and fading topics, sentiment shifts."""
    if cycle.previous is None:
        return None
    fading = [t for t in topics if t.status == "fading"]
    comparison = compare_with_previous(
        cycle.previous, topics, segments, fading, previous_profiles(cycle.previous, cycle.accepted), cycle.accepted
    )
    comparison["followups"] = followups(
        cycle.accepted, customers, feedback, cycle.config, sorted(_live_labels(topics)), cycle.original_segments
    )
    return comparison


def build_manifest(cycle: _Cycle, data, embedder, scorer, topic_model, proposals: _Proposals) -> RunManifest:
    """run.json's content: inputs, counts, config, models, caches and methods (timings are added when written)."""
    config = cycle.config
    embedding_use = dict(cycle.embedding_use)
    return RunManifest(
        refine_version=__version__,
        started=cycle.started.isoformat(timespec="seconds"),
        inputs=data.inputs,
        counts=data.counts,
        warnings=data.warnings,
        config=config.to_dict(),
        config_source=config.source,
        seed=cycle.seed,
        models={"embedding": embedder.model_id, "sentiment": scorer.model_id, **_sentiment_models(cycle)},
        llm=manifest_entry(config.llm, cycle.llm_status),
        engine=cycle.engine.describe(),
        embedding_cache=dict(embedding_use, computed=sum(v["computed"] for v in embedding_use.values())),
        sentiment_cache=dict(cycle.sentiment_use) or "off",
        sentiment=cycle.sentiment.to_json() if cycle.sentiment is not None else {},
        theme_space=dict(cycle.theme_space),
        stage_cache=cycle.memo.used if config.run.reuse else "off",
        topic_method=topic_model.method,
        proposal_method=proposals.method.to_json(),
        versions=cycle.versions,
        previous=str(cycle.previous.resolve()) if cycle.previous is not None else None,
        applied_decisions=cycle.applied,
        rule_columns=observed_columns(data.customers, [p.rule for p in proposals.proposals]),
        rule_digests={p.id: proposal_digest(p.id, p.kind, p.segments, p.rule) for p in proposals.proposals},
        extra={"estimate": cycle.estimate.to_json()} if cycle.estimate is not None else {},
    )


def _sentiment_models(cycle: _Cycle) -> dict[str, str]:
    """The models beside the English scorer: multilingual head and encoder, aggregator, review model, language detector."""
    if cycle.sentiment is None:
        return {}
    models = cycle.sentiment.models
    out = {
        "sentiment_multilingual": models.get("multilingual"),
        "multilingual_embedding": models.get("multilingual_embedding"),
        "sentence_aggregator": models.get("aggregator"),
        "sentiment_review": models.get("review"),
        "language_detector": models.get("language"),
    }
    return {k: v for k, v in out.items() if v}


def _files_of(folder: Path) -> dict[str, tuple[int, int]]:
    """The files in a folder (hidden ones aside), each with its inode and modification time."""
    stats = {p.name: p.stat() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
    return {name: (st.st_ino, st.st_mtime_ns) for name, st in stats.items()}


def write_stage(cycle: _Cycle, result: CycleResult) -> CycleResult:
    """The run folder: every output file, then run.json last (a folder without it is an unfinished run)."""
    earlier = _files_of(result.out_dir)
    with cycle.progress.stage("report", str(result.out_dir)):
        write_run(result)
    written = _files_of(result.out_dir)
    for name, stamp in earlier.items():  # the earlier run's files this run did not write again: none survives
        if written.get(name) == stamp:
            (result.out_dir / name).unlink(missing_ok=True)
    result.manifest.timings = cycle.progress.timings
    result.manifest.peak_rss_mb = cycle.progress.peak_rss_mb
    result.manifest.finished = datetime.now(UTC).isoformat(timespec="seconds")
    write_json(result.out_dir / "run.json", result.manifest.to_json())
    return result
