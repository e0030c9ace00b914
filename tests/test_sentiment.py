"""Sentiment: the packaged head on CX text, head training / files, the transformers scorer, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from refine.errors import RefineError
from refine.text.sentiment.scorers import (
    COLUMNS,
    EmbeddingHeadScorer,
    TransformersScorer,
    band_labels,
    default_head_path,
    labels_from_ratings,
    load_scorer,
    map_model_labels,
    normalise_labels,
    split_sentences,
    train_head,
)

# A tiny hand-written sanity set of CX feedback (never used for training). The complaints are
# deliberately factual, with few sentiment words: a CX researcher reads each as negative.
COMPLAINTS = [
    "My order came two weeks late and nobody called back.",
    "The zip broke after two washes.",
    "I was charged twice for the same order.",
    "I've been on hold for 45 minutes and still no answer.",
    "The box arrived crushed and the glass inside was cracked.",
    "Support closed my ticket without fixing anything.",
    "The app logs me out every time I switch screens.",
    "Still waiting for my refund after three weeks.",
    "The driver left the parcel outside in the rain.",
    "They sent the wrong size and the return label doesn't work.",
    "The seams started coming apart after one wear.",
    "Nobody answered my emails about the missing item.",
    "The checkout page crashed twice and I lost my basket.",
    "The colour looks nothing like the photos on the website.",
    "I had to explain my problem to four different agents.",
    "The battery is dead after an hour.",
    "Half the items in my order were missing.",
    "The promo code didn't apply and the agent couldn't help.",
]
PRAISE = [
    "The agent sorted out my problem in five minutes, brilliant service.",
    "Delivery was faster than promised and everything was perfect.",
    "Love the new app, it is so easy to use.",
    "The fabric is soft and the fit is perfect.",
    "Great value for money, I will definitely order again.",
    "Thank you for the quick refund, really appreciated.",
    "The staff were friendly and very helpful.",
    "Best customer service I have had in years.",
    "The dress fits beautifully and I got so many compliments.",
    "Setup took two minutes and it works flawlessly.",
    "Really happy with my purchase.",
    "Your support team went above and beyond.",
]
NEUTRAL = [
    "I ordered the blue one in a medium.",
    "I usually shop on the website at the weekend.",
    "Is there an option to pay by bank transfer?",
    "I bought this as a gift for my sister.",
    "The parcel arrived on Tuesday.",
    "I contacted support by email.",
    "I use the app mostly to check my balance.",
    "Can I change my delivery address after ordering?",
    "I have been a member for three years.",
    "I'm 5'6\" and ordered a size 8.",
]


@pytest.fixture(scope="module")
def default_head():
    return load_scorer("default")


@pytest.fixture(scope="module")
def cx_scores(default_head, base_embedder):
    texts = COMPLAINTS + PRAISE + NEUTRAL
    frame = default_head.score(texts, base_embedder.encode(texts))
    frame["kind"] = ["complaint"] * len(COMPLAINTS) + ["praise"] * len(PRAISE) + ["neutral"] * len(NEUTRAL)
    return frame


def _rated_set(n_per_kind: int = 40, seed: int = 0) -> pd.DataFrame:
    """Generated rated feedback: complaints 1-2 stars, plain statements 3, praise 4-5."""
    rng = np.random.default_rng(seed)
    things = ["order", "parcel", "jacket", "app", "refund", "invoice", "delivery", "subscription"]
    bad = [
        "arrived broken",
        "never showed up",
        "was charged twice",
        "took three weeks",
        "stopped working",
        "was the wrong size",
        "got lost and nobody called back",
        "is still missing",
    ]
    good = [
        "was perfect",
        "arrived early and looked great",
        "made me really happy",
        "is excellent",
        "works beautifully",
        "was a lovely surprise",
        "is the best I have had",
        "exceeded my hopes",
    ]
    plain = [
        "was ordered on a Monday",
        "is in the colour blue",
        "came in a cardboard box",
        "was bought for my brother",
        "is the medium size",
        "was paid by card",
        "was sent to my office",
        "has a reference number",
    ]
    rows = []
    for _kind, predicates, stars in (("neg", bad, [1, 2]), ("neu", plain, [3]), ("pos", good, [4, 5])):
        for i in range(n_per_kind):
            thing = things[i % len(things)]
            rows.append(
                {
                    "comment": f"The {thing} {predicates[(i * 3 + i // 8) % len(predicates)]}.",
                    "stars": int(rng.choice(stars)),
                    "channel": "web" if i % 2 else "app",
                }
            )
    return pd.DataFrame(rows)


# ---- the packaged head on CX text --------------------------------------------------------------


def test_packaged_head_has_weights_and_a_card():
    path = default_head_path()
    assert path.is_file() and path.stat().st_size < 1_000_000
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["classes"] == ["negative", "neutral", "positive"]
    assert {"tweeteval", "sst2", "clothing"} <= set(card["heldout"])
    assert card["neutral_band"]["low"] <= card["neutral_band"]["high"]


def test_default_head_calls_factual_complaints_negative(cx_scores):
    complaints = cx_scores[cx_scores["kind"] == "complaint"]
    share = (complaints["sentiment_label"] == "negative").mean()
    assert share >= 0.8, complaints[["sentiment_score", "sentiment_label"]].assign(text=COMPLAINTS)


def test_default_head_calls_praise_positive(cx_scores):
    # Measured with the shipped head: 8 of 12 positive, 2 neutral, 2 negative. Service praise that
    # names a problem ("sorted out my problem in five minutes, brilliant service") reads negative:
    # none of the training sources (reviews, tweets, movie phrases) has much of it. A known limit,
    # pinned here so a retrained head that does worse on it fails.
    praise = cx_scores[cx_scores["kind"] == "praise"]
    assert (praise["sentiment_label"] == "positive").mean() >= 0.65
    assert (praise["sentiment_label"] == "negative").mean() <= 0.2


def test_plain_statements_score_between_complaints_and_praise(cx_scores):
    means = cx_scores.groupby("kind")["sentiment_score"].mean()
    assert means["complaint"] < means["neutral"] < means["praise"]
    assert (cx_scores.loc[cx_scores["kind"] == "neutral", "sentiment_label"] == "neutral").mean() >= 0.5


def test_score_frame_contract(cx_scores, default_head):
    frame = cx_scores[COLUMNS]
    assert list(frame.index) == list(range(len(frame)))
    assert frame["sentiment_score"].between(-1, 1).all()
    probs = frame[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs >= 0).all()
    assert np.allclose(frame["sentiment_score"], probs[:, 2] - probs[:, 0])
    assert set(frame["sentiment_label"]) <= {"negative", "neutral", "positive"}
    assert (frame["sentiment_label"].to_numpy() == band_labels(frame["sentiment_score"], default_head.band)).all()
    empty = default_head.score([], np.zeros((0, 384), dtype=np.float32))
    assert list(empty.columns) == COLUMNS and len(empty) == 0


def test_head_needs_matching_embeddings(default_head):
    with pytest.raises(RefineError, match=r"\[model\] sentiment"):
        default_head.score(["hello"], None)
    with pytest.raises(RefineError, match="384-d"):
        default_head.score(["hello"], np.ones((1, 768), dtype=np.float32))


# ---- training, files, determinism --------------------------------------------------------------


@pytest.fixture(scope="module")
def rated(base_embedder):
    data = _rated_set()
    labels = labels_from_ratings(data["stars"], "1-2:negative,3:neutral,4-5:positive")
    vectors = dict(zip(data["comment"], base_embedder.encode(data["comment"].tolist())))
    return data, labels, (lambda texts: np.stack([vectors[t] for t in texts]))


def test_train_head_records_heldout_scores(rated):
    data, labels, embed = rated
    head = train_head(data["comment"].tolist(), labels, embed, sources=data["channel"].tolist(), seed=0)
    held = head.card["heldout"]
    assert held["all"]["n"] == sum(head.card["heldout_rows"].values()) > 0
    assert {"web", "app"} <= set(held)
    assert held["all"]["macro_f1"] >= 0.7  # an easy, clearly separated set
    assert head.classes == ["negative", "neutral", "positive"]
    assert head.band[0] <= head.band[1]


def test_training_is_deterministic(rated):
    data, labels, embed = rated
    texts = data["comment"].tolist()
    a = train_head(texts, labels, embed, seed=3)
    b = train_head(texts, labels, embed, seed=3)
    assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    assert a.band == b.band and a.model_id == b.model_id
    c = train_head(texts, labels, embed, seed=4)  # another seed holds out other rows
    assert not np.array_equal(a.weight, c.weight)


def test_save_load_round_trip_gives_identical_scores(rated, tmp_path):
    data, labels, embed = rated
    texts = data["comment"].tolist()
    head = train_head(texts, labels, embed, seed=0, lexical=True, card={"note": "round trip"})
    assert head.lexical_weight is not None
    head.save(tmp_path / "head")
    with np.load(tmp_path / "head" / "sentiment_head.npz", allow_pickle=False) as stored:
        assert {"weight", "bias", "lexical_weight", "band", "classes"} <= set(stored.files)  # plain arrays
    again = EmbeddingHeadScorer.load(tmp_path / "head")
    x = embed(texts)
    pd.testing.assert_frame_equal(head.score(texts, x), again.score(texts, x))
    assert again.model_id == head.model_id and again.card["note"] == "round trip"
    for spec in (str(tmp_path / "head"), str(tmp_path / "head" / "sentiment_head.npz")):
        pd.testing.assert_frame_equal(load_scorer(spec).score(texts, x), head.score(texts, x))


def test_two_class_training_gives_sign_labels(rated):
    data, _, embed = rated
    labels = labels_from_ratings(data["stars"], "1-3:negative,4-5:positive")
    head = train_head(data["comment"].tolist(), labels, embed, holdout=0)
    assert head.classes == ["negative", "positive"] and head.band == (0.0, 0.0)
    assert head.card["heldout"] is None
    frame = head.score(data["comment"].tolist(), embed(data["comment"].tolist()))
    assert (frame["p_neutral"] == 0).all()


def test_training_refuses_too_few_labels(rated):
    data, _, embed = rated
    with pytest.raises(RefineError, match="two sentiment classes"):
        train_head(data["comment"].tolist(), ["positive"] * len(data), embed)
    with pytest.raises(RefineError, match="at least 5"):
        train_head(data["comment"].tolist()[:12], ["positive"] * 9 + ["negative"] * 3, embed)


def test_labels_from_ratings():
    stars = "1-2:negative,3:neutral,4-5:positive"
    assert labels_from_ratings([1, 2, 3, 4, 5, "4", None, float("nan"), ""], stars) == [
        "negative",
        "negative",
        "neutral",
        "positive",
        "positive",
        "positive",
        None,
        None,
        None,
    ]
    nps = "0-6:negative,7-8:neutral,9-10:positive"
    assert labels_from_ratings([0, 6, 7, 8.0, 9, 10], nps) == ["negative"] * 2 + ["neutral"] * 2 + ["positive"] * 2
    with pytest.raises(RefineError, match="falls in no range"):
        labels_from_ratings([2.5], stars)
    with pytest.raises(RefineError, match="not a number"):
        labels_from_ratings(["great"], stars)
    with pytest.raises(RefineError, match="overlap"):
        labels_from_ratings([1], "1-3:negative,3-5:positive")
    with pytest.raises(RefineError, match="cannot read"):
        labels_from_ratings([1], "1 to 2 negative")
    with pytest.raises(RefineError, match="unknown sentiment labels"):
        labels_from_ratings([1], "1-2:bad")


def test_normalise_labels():
    assert normalise_labels(["Negative", " pos ", "NEUTRAL", "neg"]) == ["negative", "positive", "neutral", "negative"]
    with pytest.raises(RefineError, match="'meh'"):
        normalise_labels(["positive", "meh"])


# ---- choosing a scorer -------------------------------------------------------------------------


def test_load_scorer_errors_name_the_config_key(tmp_path):
    for spec in ("", "no-such-model", str(tmp_path), "transformers:", "transformers:/no/such/folder"):
        with pytest.raises(RefineError, match=r"\[model\] sentiment"):
            load_scorer(spec)
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(RefineError, match="cannot read sentiment head"):
        load_scorer(str(tmp_path / "broken.npz"))


def test_model_label_mapping():
    assert map_model_labels(["LABEL_0", "LABEL_1"]) == {"LABEL_0": "negative", "LABEL_1": "positive"}
    assert map_model_labels(["LABEL_0", "LABEL_1", "LABEL_2"])["LABEL_1"] == "neutral"
    assert map_model_labels(["NEGATIVE", "POSITIVE"]) == {"NEGATIVE": "negative", "POSITIVE": "positive"}
    assert map_model_labels(["neg", "neu", "pos"])["neu"] == "neutral"
    stars = map_model_labels(["1 star", "2 stars", "3 stars", "4 stars", "5 stars"])
    assert [stars[s] for s in ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")] == [
        "negative",
        "negative",
        "neutral",
        "positive",
        "positive",
    ]
    for bad in (["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"], ["joy", "anger"], ["negative", "neutral"]):
        with pytest.raises(RefineError):
            map_model_labels(bad)


def _tiny_classifier(folder: Path, labels: dict[int, str]) -> Path:
    """A randomly initialised 2-layer BERT with a 20-word vocabulary, saved locally (no download)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "the",
        "order",
        "was",
        "late",
        "great",
        "service",
        "bad",
        "good",
        "i",
        "love",
        "it",
        ".",
        ",",
        "not",
        "very",
    ]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_transformers_scorer_with_a_local_model(tmp_path):
    folder = _tiny_classifier(tmp_path / "tiny", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    scorer = load_scorer(f"transformers:{folder}")
    assert isinstance(scorer, TransformersScorer) and scorer.model_id == f"transformers:{folder}"
    texts = ["the order was late", "i love it", "", "late " * 500]  # the last is truncated, not an error
    frame = scorer.score(texts, None)
    assert list(frame.columns) == COLUMNS and list(frame.index) == [0, 1, 2, 3]
    assert np.allclose(frame[["p_negative", "p_neutral", "p_positive"]].sum(axis=1), 1.0)
    assert frame["sentiment_score"].between(-1, 1).all()
    stars = _tiny_classifier(tmp_path / "stars", {i: f"{i + 1} star{'s' if i else ''}" for i in range(5)})
    frame = TransformersScorer(str(stars)).score(["good service"], np.zeros((1, 384)))
    assert frame.loc[0, "sentiment_label"] in ("negative", "neutral", "positive")


def test_cached_scorer_reads_back_exactly_what_it_computed(default_head, base_embedder, tmp_path):
    from refine.text.sentiment.scorers import CachedScorer, cached_scorer

    texts = COMPLAINTS[:4] + PRAISE[:3] + [COMPLAINTS[0]]  # a repeated text is scored once
    vectors = base_embedder.encode(texts)
    direct = default_head.score(texts, vectors)
    cached = cached_scorer(default_head, tmp_path, base_embedder.model_id)
    assert isinstance(cached, CachedScorer) and cached.model_id == default_head.model_id
    first = cached.score(texts, vectors)
    assert (cached.last_hits, cached.last_computed) == (0, 7)
    again = cached_scorer(default_head, tmp_path, base_embedder.model_id)  # a new run: a fresh index
    second = again.score(texts[::-1], vectors[::-1])
    assert (again.last_hits, again.last_computed) == (7, 0)
    pd.testing.assert_frame_equal(first, direct)
    pd.testing.assert_frame_equal(second, direct.iloc[::-1].reset_index(drop=True))
    other = cached_scorer(default_head, tmp_path, "another-embedding-model")  # vectors differ: no reuse
    other.score(texts[:2], vectors[:2])
    assert other.last_computed == 2
    import refine.text.sentiment.scorers
    from refine.memo import code_digest

    assert code_digest(refine.text.sentiment.scorers) in cached.namespace  # new word features or scoring code: no reuse
    assert not any(t.encode() in p.read_bytes() for p in tmp_path.rglob("*.npz") for t in texts)
    assert cached.score([], np.zeros((0, 384))).empty


def test_transformers_scorer_is_not_cached(tmp_path):
    from refine.text.sentiment.scorers import cached_scorer

    folder = _tiny_classifier(tmp_path / "tiny", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    scorer = load_scorer(f"transformers:{folder}")
    assert cached_scorer(scorer, tmp_path / "cache", "m") is scorer  # its id names no weights


# ---- sentences ---------------------------------------------------------------------------------


def test_split_sentences():
    assert split_sentences("") == [] and split_sentences(None) == [] and split_sentences("   ") == []
    assert split_sentences("Love it") == ["Love it"]
    assert split_sentences("love the fit. the zip broke!! will i buy again? no") == [
        "love the fit.",
        "the zip broke!!",
        "will i buy again?",
        "no",
    ]
    assert split_sentences("Dr. Smith said e.g. size 8 is fine. It cost 3.50 today.") == [
        "Dr. Smith said e.g. size 8 is fine.",
        "It cost 3.50 today.",
    ]
    assert split_sentences('He said "never again." Then he left...  Fine.\nNew line here') == [
        'He said "never again."',
        "Then he left...",
        "Fine.",
        "New line here",
    ]


# ---- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch, base_embedder, tmp_path):
    import typer
    from typer.testing import CliRunner

    import refine.cli.sentiment as cli_sentiment
    from refine.text.embed import CachedEmbedder

    # reuse the session's loaded model instead of loading it again for every invocation
    monkeypatch.setattr(cli_sentiment, "_build_embedder", lambda model: CachedEmbedder(base_embedder, tmp_path / "c"))
    app = typer.Typer()
    app.add_typer(cli_sentiment.sentiment_app, name="sentiment")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["sentiment", *args])


def test_cli_train_writes_a_head_and_prints_the_config_line(cli, tmp_path):
    data = _rated_set()
    data.loc[3, "comment"] = ""  # a blank text is skipped and counted
    path = tmp_path / "rated.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "my-head"
    result = cli(
        "train",
        "--data",
        str(path),
        "--text-col",
        "comment",
        "--label-col",
        "stars",
        "--ratings",
        "1-2:negative,3:neutral,4-5:positive",
        "--out",
        str(out),
        "--seed",
        "1",
    )
    assert result.exit_code == 0, result.output
    assert "held-out scores" in result.stdout and "macro-F1" in result.stdout
    assert f'sentiment = "{out.resolve().as_posix()}"' in result.stdout
    assert "1 rows skipped" in result.stdout
    card = json.loads((out / "sentiment_head.json").read_text())
    assert card["training_data"]["rows_used"] == len(data) - 1 and card["heldout"]["all"]["n"] > 0
    assert isinstance(load_scorer(str(out)), EmbeddingHeadScorer)


def test_cli_train_reads_text_labels_from_jsonl(cli, tmp_path):
    data = _rated_set(n_per_kind=15)
    data["label"] = data["stars"].map({1: "Negative", 2: "negative", 3: "neutral", 4: "POSITIVE", 5: "pos"})
    path = tmp_path / "rated.jsonl"
    data.to_json(path, orient="records", lines=True)
    result = cli(
        "train",
        "--data",
        str(path),
        "--text-col",
        "comment",
        "--label-col",
        "label",
        "--out",
        str(tmp_path / "h"),
        "--holdout",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert "held-out scores: none" in result.stdout


STARS = "1-2:negative,3:neutral,4-5:positive"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"--text-col": "missing", "--ratings": STARS}, "--text-col column 'missing' is not in the file"),
        ({"--label-col": "comment"}, "unknown sentiment labels"),
        ({"--ratings": "1-2:negative,3:neutral"}, "falls in no range"),
        ({"--data": "does-not-exist.csv", "--ratings": STARS}, "not found"),
    ],
)
def test_cli_train_bad_input_is_one_line_exit_2(cli, tmp_path, overrides, message):
    path = tmp_path / "rated.csv"
    _rated_set(n_per_kind=10).to_csv(path, index=False)
    options = {
        "--data": str(path),
        "--text-col": "comment",
        "--label-col": "stars",
        "--out": str(tmp_path / "o"),
        **overrides,
    }
    result = cli("train", *[x for pair in options.items() for x in pair])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


# ---- quality on real data (benchmarks; need ../shared/data) -------------------------------------

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.slow
def test_default_head_reproduces_its_card_on_heldout_low_rated_reviews(default_head, base_embedder):
    if not (DATA / "womens_clothing_reviews.csv").is_file():
        pytest.skip(f"no real data at {DATA}")
    from training._common import load_sources

    data = load_sources(DATA)
    low = data[(data["source"] == "clothing") & (data["split"] == "holdout") & (data["rating"] <= 2)]
    labels = default_head.score(low["text"].tolist(), base_embedder.encode(low["text"].tolist()))["sentiment_label"]
    # the CX floor (75% of 1-2 star reviews called negative) is kept on the training part's out-of-fold
    # scores when the band is chosen; on the held-out reviews the card records what the head reached
    # (0.72 for the packaged head), and this run must reproduce it
    card = json.loads((Path(__file__).resolve().parents[1] / "refine" / "models" / "sentiment_head.json").read_text())
    recorded = card["heldout"]["clothing_1_2_star"]
    assert len(low) == recorded["n"]
    assert (labels == "negative").mean() == pytest.approx(recorded["negative_recall"], abs=0.005)
    assert (labels == "positive").mean() <= 0.05  # hardly any complaint read as praise


# ---- the sentiment stage: languages, sentences, aggregation (refine.text.sentiment.stage) --------

from refine.text.language import UNKNOWN  # noqa: E402
from refine.text.sentiment.stage import (  # noqa: E402
    FeedbackSentiment,
    SentenceAggregator,
    SentimentResult,
    build_sentences,
    confidence_of,
    sentence_rows,
    theme_space,
)


def _constant_head(probs, dim, name):
    """A head that gives every text the same probabilities (zero weights, log-prob bias): routes become visible."""
    return EmbeddingHeadScorer(np.zeros((dim, 3)), np.log(np.asarray(probs)), list(S_LABELS), (-0.2, 0.2), name=name)


S_LABELS = ("negative", "neutral", "positive")
SPANISH = "El paquete llegó roto y nadie me devolvió el dinero."
ENGLISH_LONG = (
    "The dress fits beautifully and the colour is lovely, I wore it to a wedding last weekend. "
    "Sadly the zip broke after two washes and support never answered any of my emails about it."
)


@pytest.fixture
def stage(fake_embedder):
    from refine.text.embed import HashingEmbedder

    english = _constant_head([0.1, 0.2, 0.7], 384, "en")
    spanish = _constant_head([0.8, 0.1, 0.1], 512, "ml")
    return FeedbackSentiment(
        english,
        multilingual_head=spanish,
        multilingual_embedder=HashingEmbedder(512),
        aggregator=SentenceAggregator("length_weighted", band=(-0.2, 0.2)),
    )


def test_stage_routes_by_language_and_keeps_every_row(stage, fake_embedder):
    texts = ["Great service, thank you.", SPANISH, "😡", "", "12345 !!!", None]
    x = fake_embedder.encode(["" if t is None else t for t in texts])
    result = stage.score(texts, x, embedder=fake_embedder)
    docs = result.documents
    assert len(docs) == len(texts)  # nothing dropped
    assert docs["language"].tolist()[:2] == ["en", "es"]
    assert docs["route"].tolist() == ["english", "multilingual", "no text", "no text", "no text", "no text"]
    assert docs.loc[0, "sentiment_label"] == "positive" and docs.loc[1, "sentiment_label"] == "negative"
    assert np.isclose(docs.loc[1, "p_negative"], 0.8)
    bad = docs.iloc[2:]
    assert (bad["language"] == UNKNOWN).all()
    assert (bad["sentiment_label"] == "neutral").all()
    assert np.allclose(bad["sentiment_score"], 0.0) and np.allclose(bad["sentiment_confidence"], 0.0)
    assert docs["sentiment_score"].between(-1, 1).all()
    assert np.allclose(docs[["p_negative", "p_neutral", "p_positive"]].sum(axis=1), 1.0)


def test_stage_reads_languages_from_the_cache_on_a_rerun(stage, fake_embedder, tmp_path, monkeypatch):
    from refine.text import language
    from refine.text.language import LanguageCache

    texts = ["Great service, thank you.", SPANISH, "Great service, thank you.", "😡"]
    x = fake_embedder.encode(texts)
    stage.language_cache = LanguageCache(tmp_path)
    first = stage.score(texts, x, embedder=fake_embedder).documents
    assert stage.language_cache.computed == 3  # each distinct text detected once

    def no_detection(*args, **kwargs):
        raise AssertionError("a cached text was detected again")

    monkeypatch.setattr(language, "detect_one", no_detection)
    stage.language_cache = LanguageCache(tmp_path)  # next month's run: a fresh process, the same cache folder
    again = stage.score(texts, x, embedder=fake_embedder).documents
    assert again[["language", "language_confidence", "route"]].equals(
        first[["language", "language_confidence", "route"]]
    )
    assert stage.language_cache.hits == 3 and stage.language_cache.computed == 0


def test_mixed_scripts_and_undetectable_text_get_a_defined_result(stage, fake_embedder):
    texts = ["Great product 很好 отлично", "ok ок", "qzx vbk wq"]
    result = stage.score(texts, fake_embedder.encode(texts), embedder=fake_embedder)
    docs = result.documents
    assert len(docs) == 3
    assert set(docs["sentiment_label"]) <= {"negative", "neutral", "positive"}
    unknown = docs["language"] == UNKNOWN
    # letters in a language no one could name: read by the multilingual head, never neutral by default
    assert (docs.loc[unknown, "route"] == "unknown language").all()
    assert (docs.loc[unknown, "sentiment_label"] == "negative").all()  # the constant multilingual head says so
    assert np.isfinite(docs["sentiment_score"]).all()


def test_unnamed_language_is_read_by_the_multilingual_head_and_counted(stage, fake_embedder):
    # romanized Hindi and a keyboard mash: letters, but the detector names no language
    texts = ["mera order abhi tak nahi aaya", "qzx vbk wq", "Great service, thank you.", "10/10", "👍", "5 ⭐"]
    result = stage.score(texts, fake_embedder.encode(texts), embedder=fake_embedder)
    docs = result.documents
    assert (docs.loc[:1, "language"] == UNKNOWN).all()
    assert docs["route"].tolist() == ["unknown language"] * 2 + ["english"] + ["no text"] * 3
    read = docs.loc[:1]
    assert np.allclose(read["p_negative"], 0.8) and (read["sentiment_label"] == "negative").all()
    assert np.allclose(read["sentiment_confidence"], confidence_of(np.array([0.8, 0.1, 0.1])))
    none = docs.loc[3:]
    assert (none["sentiment_label"] == "neutral").all() and np.allclose(none["sentiment_confidence"], 0.0)
    summary = result.to_json()
    assert summary["routes"] == {"english": 1, "no text": 3, "unknown language": 2}
    assert summary["unknown_language_read"] == 2
    # read back from run.json + feedback.parquet, the routes are the same
    again = SentimentResult.from_json(summary, result.feedback_columns())
    assert again.documents["route"].tolist() == docs["route"].tolist()


def test_unnamed_language_without_a_multilingual_head_goes_to_the_english_scorer(fake_embedder):
    english = _constant_head([0.1, 0.2, 0.7], 384, "en")
    stage = FeedbackSentiment(english, multilingual_head=None, aggregator=SentenceAggregator("length_weighted"))
    texts = ["mera order abhi tak nahi aaya", "123"]
    docs = stage.score(texts, fake_embedder.encode(texts), embedder=fake_embedder).documents
    assert docs["route"].tolist() == ["unknown language", "no text"]
    assert docs.loc[0, "sentiment_label"] == "positive" and np.isclose(docs.loc[0, "p_positive"], 0.7)
    assert docs.loc[1, "sentiment_label"] == "neutral"


def test_single_sentence_comment_scores_as_before(default_head, base_embedder):
    # one sentence, or two short ones: a short comment behaves as before sentences were read
    texts = ["The zip broke after two washes.", "Really happy with my purchase. Will buy again soon."]
    x = base_embedder.encode(texts)
    before = default_head.score(texts, x)
    stage = FeedbackSentiment(default_head, multilingual_head=None)
    after = stage.score(texts, x, embedder=base_embedder).documents
    assert np.allclose(after["sentiment_score"], before["sentiment_score"])
    assert after["sentiment_label"].tolist() == before["sentiment_label"].tolist()
    assert (after["sentences"] == 1).all()


def test_multi_sentence_comment_is_the_length_weighted_mean_of_its_sentences(default_head, base_embedder):
    texts = [ENGLISH_LONG]
    x = base_embedder.encode(texts)
    stage = FeedbackSentiment(default_head, aggregator=SentenceAggregator("length_weighted", band=(-0.2, 0.2)))
    result = stage.score(texts, x, embedder=base_embedder)
    assert len(ENGLISH_LONG.split()) >= stage.min_words  # long enough to be read sentence by sentence
    sentences = result.sentences
    assert len(sentences) == 2 and result.documents.loc[0, "sentences"] == 2
    words = np.array([len(t.split()) for t in sentences["text"]], dtype=float)
    expected = (sentences["sentiment_score"].to_numpy() * words).sum() / words.sum()
    assert np.isclose(result.documents.loc[0, "sentiment_score"], expected)
    # the praise and the complaint each keep their own sign
    assert sentences["sentiment_score"].iloc[0] > 0 > sentences["sentiment_score"].iloc[1]


def test_sentence_rows_keep_short_comments_whole():
    texts = ["Thanks!", "Loved it at first. The fit was odd though, too long in the body.", "Ok. Fine. Whatever."]
    frame = sentence_rows(texts)
    assert frame[frame["feedback_row"] == 0]["text"].tolist() == ["Thanks!"]
    assert len(frame[frame["feedback_row"] == 1]) == 2
    # fragments under 12 characters are no sentences of their own: the comment stays whole
    assert frame[frame["feedback_row"] == 2]["text"].tolist() == ["Ok. Fine. Whatever."]


def test_build_sentences_reuses_document_vectors_for_single_sentences(fake_embedder):
    texts = ["One sentence only here.", ENGLISH_LONG]
    x = fake_embedder.encode(texts)
    sentences = build_sentences(texts, x, fake_embedder)
    assert len(sentences.frame) == len(sentences.embeddings) == 3  # refine.text.sentences.SentenceTable
    assert np.allclose(sentences.embeddings[0], x[0])


def test_aggregator_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    agg = SentenceAggregator("learned", band=(-0.1, 0.3), weight=rng.normal(size=(8, 3)), bias=rng.normal(size=3))
    agg.save(tmp_path)
    back = SentenceAggregator.load(tmp_path)
    f = SentenceAggregator.features(
        rng.dirichlet(np.ones(3), 4), rng.dirichlet(np.ones(3), 6), np.array([0, 0, 1, 1, 2, 3]), np.arange(1, 7)
    )
    assert np.allclose(agg.probabilities(f), back.probabilities(f))
    assert back.model_id == agg.model_id
    assert json.loads((tmp_path / "sentence_aggregator.json").read_text())["method"] == "learned"
    with np.load(tmp_path / "sentence_aggregator.npz", allow_pickle=False) as data:
        assert "weight" in data.files  # plain arrays, no pickle


def test_result_json_and_old_runs(stage, fake_embedder):
    texts = ["Great service, thank you.", SPANISH, "😡"]
    result = stage.score(texts, fake_embedder.encode(texts), embedder=fake_embedder)
    columns = result.feedback_columns()
    assert list(columns.columns) == [*COLUMNS, "sentiment_confidence", "language"]
    summary = result.to_json()
    assert summary["comments"] == 3 and {r["language"] for r in summary["languages"]} == {"en", "es", UNKNOWN}
    json.dumps(summary)  # serialisable as it is
    back = SentimentResult.from_json(summary, columns)
    assert back.documents["language"].tolist() == columns["language"].tolist()
    # a run written before languages: no language column, read as English with its scores
    old = columns.drop(columns=["language", "sentiment_confidence"])
    legacy = SentimentResult.from_json({}, old)
    assert legacy.documents["language"].tolist() == ["en"] * 3
    assert np.allclose(legacy.documents["sentiment_score"], old["sentiment_score"])


def test_confidence_is_zero_for_uniform_and_one_for_certain():
    assert np.allclose(confidence_of(np.array([[1 / 3] * 3, [0, 0, 1.0]])), [0.0, 1.0])


def test_theme_space_switches_to_one_multilingual_space_above_the_threshold(fake_embedder):
    from refine.text.embed import HashingEmbedder

    texts = ["late parcel", "paquete tarde", "late again"]
    x = fake_embedder.encode(texts)
    ml = HashingEmbedder(512)
    kept = theme_space(texts, ["en", "en", "en"], x, fake_embedder, threshold=0.1, multilingual_embedder=ml)
    assert not kept.multilingual and kept.embeddings is x or np.shares_memory(kept.embeddings, x)
    mixed = theme_space(texts, ["en", "es", "en"], x, fake_embedder, threshold=0.1, multilingual_embedder=ml)
    assert mixed.multilingual and mixed.embeddings.shape == (3, 512) and mixed.non_english_share == pytest.approx(1 / 3)
    never = theme_space(texts, ["en", "es", "en"], x, fake_embedder, threshold=1.0, multilingual_embedder=ml)
    assert not never.multilingual


def test_packaged_multilingual_head_reads_spanish_and_german():
    from refine.text.embed_multilingual import MultilingualEncoder
    from refine.text.sentiment.stage import default_multilingual_head

    head = default_multilingual_head()
    assert head is not None and head.dimension == 512
    texts = [
        "El paquete llegó roto y nadie me devolvió el dinero. Pésimo servicio.",
        "Die Lieferung war schnell und alles war perfekt, vielen Dank!",
    ]
    labels = head.score(texts, MultilingualEncoder().encode(texts))["sentiment_label"].tolist()
    assert labels == ["negative", "positive"]


SPANISH_COMPLAINTS = [
    "El pedido llegó dos semanas tarde y nadie contestó mis correos.",
    "Me cobraron dos veces y todavía espero el reembolso.",
    "La aplicación se cierra cada vez que intento pagar.",
    "El paquete llegó roto. El servicio de atención fue muy lento.",
]


def test_cycle_with_mixed_languages_records_language_and_one_theme_space(tmp_path):
    """A month with Spanish comments: language per comment, the multilingual route, one theme space, the report."""
    from refine.demo.company import generate_company, write_demo_data
    from refine.io.config import load_config
    from refine.run.cycle import run_cycle
    from refine.text.embed import HashingEmbedder

    company = generate_company(seed=0, n_customers=800)
    feedback = company.feedback
    text = "Comment Text"
    rows = feedback.index[feedback[text].fillna("").str.len() > 20][::4]
    feedback.loc[rows, text] = [SPANISH_COMPLAINTS[i % len(SPANISH_COMPLAINTS)] for i in range(len(rows))]
    # romanized Hindi (no language the detector names) and comments with no letters
    hinglish = [
        "mera order abhi tak nahi aaya",
        "delivery boy ne bahut der kar di yaar",
        "paisa wapas nahi mila abhi tak",
    ]
    after = rows[rows + 1 < len(feedback)] + 1  # the demo frame has a RangeIndex
    feedback.loc[after, text] = [hinglish[i % 3] if i % 4 else "10/10" for i in range(len(after))]
    paths = write_demo_data(tmp_path / "data", company)
    config = load_config(paths["config"])
    result = run_cycle(
        paths["feedback"], paths["customers"], config, tmp_path / "run", quiet=True, embedder=HashingEmbedder()
    )
    saved = pd.read_parquet(tmp_path / "run" / "feedback.parquet")
    assert {"language", "sentiment_confidence"} <= set(saved.columns)
    assert saved["sentiment_score"].between(-1, 1).all()
    spanish = saved[saved[text if text in saved else "text"].isin(SPANISH_COMPLAINTS)]
    assert len(spanish) and (spanish["language"] == "es").all()
    assert (spanish["sentiment_label"] == "negative").mean() >= 0.75  # the multilingual head read them
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    languages = {row["language"]: row["comments"] for row in manifest["sentiment"]["languages"]}
    assert languages["es"] == len(spanish) and languages["en"] > languages["es"]
    assert manifest["theme_space"]["multilingual"] is True
    assert manifest["models"]["sentiment_multilingual"].startswith("sentiment-head:multilingual@")
    routes = result.sentiment.documents["route"]
    assert routes.isin(["english", "multilingual", "review", "unknown language", "no text"]).all()
    assert (result.sentiment.documents.loc[routes == "review", "language"] == "en").all()  # the review model is English
    assert "Languages:" in (tmp_path / "run" / "report.md").read_text()
    # no comment is neutral only because its language is unknown; one with no letters is
    unnamed = saved[saved[text if text in saved else "text"].isin(hinglish)]
    assert len(unnamed) and (unnamed["language"] == UNKNOWN).all() and (unnamed["sentiment_confidence"] > 0).all()
    assert (routes == "unknown language").sum() == manifest["sentiment"]["unknown_language_read"] >= len(unnamed)
    assert manifest["sentiment"]["routes"]["no text"] >= int(
        (saved[text if text in saved else "text"] == "10/10").sum()
    )
    line = f"{manifest['sentiment']['unknown_language_read']} comments in no language we could name were read by the multilingual model"
    assert line in (tmp_path / "run" / "report.md").read_text()
    assert line in (tmp_path / "run" / "report.html").read_text()


@pytest.mark.parametrize("command", ["train", "retrain"])
def test_cli_train_multilingual_head_with_languages(cli, monkeypatch, tmp_path, command):
    """--encoder multilingual trains on the multilingual encoder's space; --language-col scores per language.
    `retrain` is the same command."""
    import refine.cli.sentiment as cli_sentiment
    from refine.text.embed import HashingEmbedder

    ml = HashingEmbedder(512)
    ml.model_id = "fake-multilingual-512"
    monkeypatch.setattr(cli_sentiment, "_build_multilingual_embedder", lambda: ml)
    english = _rated_set(n_per_kind=20)
    spanish = english.copy()
    spanish["comment"] = "es: " + spanish["comment"]  # distinct texts standing in for a second language
    english["lang"], spanish["lang"] = "en", "es"
    data = pd.concat([english, spanish], ignore_index=True)
    path = tmp_path / "rated.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "ml-head"
    result = cli(
        command,
        *("--data", str(path), "--text-col", "comment", "--label-col", "stars", "--ratings", STARS),
        *("--out", str(out), "--encoder", "multilingual", "--language-col", "lang"),
    )
    assert result.exit_code == 0, result.output
    assert f'multilingual = "{out.resolve().as_posix()}"' in result.stdout
    card = json.loads((out / "sentiment_head.json").read_text())
    assert card["encoder"] == "multilingual" and card["embedding_model"] == "fake-multilingual-512"
    assert {"en", "es"} <= set(card["heldout"])  # held-out scores per language
    from refine.text.sentiment.stage import load_multilingual_head

    assert load_multilingual_head(str(out)).dimension == 512


def test_cli_train_rejects_an_unknown_encoder(cli, tmp_path):
    path = tmp_path / "rated.csv"
    _rated_set(n_per_kind=10).to_csv(path, index=False)
    result = cli(
        "train",
        *("--data", str(path), "--text-col", "comment", "--label-col", "stars", "--ratings", STARS),
        *("--out", str(tmp_path / "h"), "--encoder", "klingon"),
    )
    assert result.exit_code == 2 and "--encoder" in result.output
