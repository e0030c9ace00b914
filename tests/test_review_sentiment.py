"""The review model (refine.text.sentiment.review): the packaged fine-tuned model, its place in the stage, retraining."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from refine.errors import RefineError
from refine.text.sentiment.review import (
    ADAPTER_FILE,
    CARD_FILE,
    MODEL_FILE,
    ReviewModel,
    adapter_arrays,
    default_review_model_dir,
    load_review_model,
    merged_classifier,
)
from refine.text.sentiment.stage import FeedbackSentiment

COMPLAINT = (
    "I ordered this dress for a wedding and was really disappointed when it arrived. The fabric is thin and "
    "see-through, the seams were already coming apart and the colour looks nothing like the pictures. I sent it back."
)
PRAISE = (
    "This is my new favourite sweater and I have already worn it three times this week. The knit is soft and warm, "
    "it washes well and the fit is perfect through the shoulders. I am ordering it in a second colour."
)
MIXED = (
    "The top is pretty and the colour is exactly as shown in the photos, which I liked. However the cut is very "
    "boxy and short, it looked odd on me, so I am not sure I will keep it. It is okay for the price I guess."
)


@pytest.fixture(scope="module")
def review_model():
    return load_review_model("default")


def test_packaged_review_model_reads_long_reviews(review_model):
    probs = review_model.predict_proba([COMPLAINT, PRAISE, MIXED])
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1.0)
    frame = review_model.score([COMPLAINT, PRAISE, MIXED])
    assert frame["sentiment_label"].tolist()[:2] == ["negative", "positive"]
    # the mixed review sits between the two
    assert frame["sentiment_score"][0] < frame["sentiment_score"][2] < frame["sentiment_score"][1]
    # the card says what it was trained on and how it was chosen
    card = review_model.card
    assert card["training_data"]["rows"] > 1000 and card["recipe"]["script"] == "training/train_review_model.py"
    assert 0 <= card["mix"] <= 1 and len(card["pipeline_band"]) == 2
    assert review_model.model_id.startswith("review-minilm:")


def test_a_texts_score_does_not_depend_on_the_texts_beside_it(review_model):
    texts = [PRAISE, COMPLAINT, "", "x" * 5000, MIXED + " " + MIXED * 20, "ok."]  # empty and very long texts too
    together = review_model.predict_proba(texts)
    assert np.isfinite(together).all() and len(together) == len(texts)
    alone = np.vstack([review_model.predict_proba([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-6)  # int8 activations are quantized per text, never per batch
    assert np.allclose(review_model.predict_proba(list(reversed(texts)))[::-1], together, atol=1e-6)


def test_stage_sends_unsure_long_english_comments_to_the_review_model(review_model, base_embedder):
    from refine.text.sentiment.scorers import load_scorer

    head = load_scorer("default")
    spanish = "El vestido llegó roto y nadie me devolvió el dinero. Muy mal servicio, no vuelvo a comprar aquí."
    texts = [COMPLAINT, PRAISE, MIXED, "Love it, thanks!", spanish, "😡"]
    x = base_embedder.encode(texts)
    plain = FeedbackSentiment(head, multilingual_head=None).score(texts, x, embedder=base_embedder).documents
    stage = FeedbackSentiment(head, multilingual_head=None, review_model=review_model)
    result = stage.score(texts, x, embedder=base_embedder)
    docs = result.documents
    assert len(docs) == len(texts)
    # read: English, 25+ words in 2+ sentences, and the sentence aggregate unsure; nothing else changes
    long_english = (plain["route"] == "english") & (plain["sentences"] > 1)
    expected = long_english & (plain["sentiment_confidence"] < review_model.route_below_confidence)
    assert expected.any() and (docs["route"] == "review").tolist() == expected.tolist()
    assert docs.loc[3, "route"] == "english" and docs.loc[5, "route"] == "no text"
    assert docs.loc[5, "sentiment_label"] == "neutral"
    untouched = ~expected.to_numpy()
    assert np.allclose(docs["sentiment_score"][untouched], plain["sentiment_score"][untouched])
    probs = ["p_negative", "p_neutral", "p_positive"]
    read = np.flatnonzero(expected.to_numpy())
    mix = review_model.mix
    mixed = mix * review_model.predict_proba([texts[i] for i in read]) + (1 - mix) * plain.loc[read, probs].to_numpy(
        dtype=float
    )
    assert np.allclose(docs.loc[read, probs].to_numpy(dtype=float), mixed, atol=1e-6)
    low, high = review_model.pipeline_band
    margin = mixed[:, 2] - mixed[:, 0]
    expected_labels = np.where(margin < low, "negative", np.where(margin > high, "positive", "neutral"))
    assert docs.loc[read, "sentiment_label"].tolist() == expected_labels.tolist()
    assert result.models["review"] == review_model.model_id
    assert result.to_json()["routes"]["review"] == len(read)


def test_review_setting_follows_the_sentiment_head(tmp_path):
    from refine.io.config import RefineConfig
    from refine.run.cycle import _review_model

    config = RefineConfig()
    config.run.cache_dir = str(tmp_path)
    assert _review_model(config) is not None  # default head: the review model reads long comments
    config.model.sentiment = str(tmp_path / "my-head")
    assert _review_model(config) is None  # a team's own head keeps every comment
    config.model.review = "off"
    assert _review_model(config) is None
    config.model.review = str(tmp_path / "nothing-here")
    with pytest.raises(RefineError, match="no review model"):
        _review_model(config)


def test_damaged_review_model_files_are_one_line_errors(tmp_path):
    good = default_review_model_dir()
    folder = tmp_path / "review"
    folder.mkdir()
    (folder / ADAPTER_FILE).write_bytes((good / ADAPTER_FILE).read_bytes()[:100_000])  # cut short
    (folder / CARD_FILE).write_text((good / CARD_FILE).read_text())
    with pytest.raises(RefineError, match="cannot use the review model"):
        ReviewModel(folder, cache_dir=tmp_path / "cache").predict_proba([COMPLAINT])
    assert not list((tmp_path / "cache").rglob(MODEL_FILE))  # nothing half-built is left for a later run
    card = json.loads((good / CARD_FILE).read_text())
    for broken in ("{not json", json.dumps({**card, "mix": 3}), json.dumps({**card, "pipeline_band": [0.5, -0.5]})):
        (folder / CARD_FILE).write_text(broken)
        with pytest.raises(RefineError, match="cannot read the review model card"):
            ReviewModel(folder)
    (folder / CARD_FILE).write_text(json.dumps({**card, "tokenizer_sha256": "0" * 64}))
    with pytest.raises(RefineError, match="another tokenizer"):
        ReviewModel(folder)


def test_the_cycle_reads_review_scores_from_the_cache_and_only_for_english(tmp_path, base_embedder):
    from refine.io.config import RefineConfig
    from refine.run.cycle import _review_model
    from refine.text.sentiment.scorers import load_scorer

    config = RefineConfig()
    config.run.cache_dir = str(tmp_path)
    cached = _review_model(config)
    german = (
        "Das Kleid kam zu spät und war am Saum schon kaputt, die Farbe ist ganz anders als auf den Bildern. "
        "Der Kundendienst hat nie geantwortet und ich warte immer noch auf mein Geld."
    )
    texts = [COMPLAINT, PRAISE, MIXED, german]
    x = base_embedder.encode(texts)
    # no multilingual head: every language goes to the English head, but never to the English review model
    stage = FeedbackSentiment(load_scorer("default"), multilingual_head=None, review_model=cached)
    first = stage.score(texts, x, embedder=base_embedder)
    assert first.documents.loc[3, "language"] == "de" and first.documents.loc[3, "route"] == "english"
    assert len(list((tmp_path / "review").rglob(MODEL_FILE))) == 1  # the adapter's int8 export, built once here
    read = int((first.documents["route"] == "review").sum())
    assert read >= 1 and stage.use["review"] == {"hits": 0, "computed": read}
    again = FeedbackSentiment(load_scorer("default"), multilingual_head=None, review_model=_review_model(config))
    second = again.score(texts, x, embedder=base_embedder)
    assert again.use["review"] == {"hits": read, "computed": 0}
    assert np.allclose(second.documents["sentiment_score"], first.documents["sentiment_score"])


def test_train_review_model_from_the_cli(tmp_path):
    from typer.testing import CliRunner

    from refine.cli.main import app

    rows = []
    for i in range(24):
        rows.append({"review": f"{COMPLAINT} Order {i}.", "stars": 1 + (i % 2)})
        rows.append({"review": f"{PRAISE} Order {i}.", "stars": 4 + (i % 2)})
        rows.append({"review": f"{MIXED} Order {i}.", "stars": 3})
    rows.append({"review": "", "stars": 5})  # counted as skipped, not trained on
    data = tmp_path / "reviews.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    out = tmp_path / "my-review"
    args = ["sentiment", "retrain", "--encoder", "review", "--data", str(data), "--text-col", "review"]
    args += ["--label-col", "stars", "--ratings", "1-2:negative,3:neutral,4-5:positive", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--epochs", "1", "--holdout", "0.5"])
    assert result.exit_code == 0, result.output
    assert "fine-tuning on 36 texts" in result.output and f'review = "{out.resolve().as_posix()}"' in result.output
    card = json.loads((out / CARD_FILE).read_text())
    assert card["training_data"]["rows_skipped"] == 1 and card["heldout"]["n"] == 18
    model = ReviewModel(out)
    assert model.predict_proba([COMPLAINT]).shape == (1, 3)
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "other"), "--holdout", "0"])
    assert bad.exit_code == 2 and "--holdout between 0.1 and 0.9" in bad.output
    ignored = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "other"), "--word-features"])
    assert ignored.exit_code == 2 and "--word-features do not apply to --encoder review" in ignored.output


def test_fine_tune_threads_hold_for_the_training_only_and_the_file_keeps_rank_and_precision():
    import torch

    from refine.text.sentiment.review import fine_tune

    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)  # a count the training's 1 differs from
    try:
        model = fine_tune([COMPLAINT, PRAISE, MIXED], ["negative", "positive", "neutral"], epochs=1, threads=1, rank=4)
        assert torch.get_num_threads() == before + 1  # a library call does not change the caller's torch
    finally:
        torch.set_num_threads(before)
    assert not model.training
    # what is saved: the rank asked for, alpha 2 * rank, the adapters in float16 and the head in float32;
    # an older float32 file merges to the same weights within float16's precision
    arrays = adapter_arrays(model)
    assert (int(arrays["rank"]), float(arrays["alpha"])) == (4, 8.0)
    lora = [k for k in arrays if k.endswith((".lora_a", ".lora_b"))]
    assert len(lora) == 2 * 6 * 6 and all(arrays[k].dtype == np.float16 for k in lora)
    assert arrays["encoder.encoder.layer.0.attention.self.query.lora_a"].shape == (4, 384)
    assert arrays["head.weight"].dtype == np.float32
    state = model.state_dict()
    as_float32 = {**arrays, **{k: state[k].numpy().astype(np.float32) for k in lora}}
    name = "encoder.encoder.layer.0.attention.self.query"
    half = merged_classifier(arrays).get_submodule(name).weight.detach().numpy()
    full = merged_classifier(as_float32).get_submodule(name).weight.detach().numpy()
    assert np.abs(half - full).max() < 1e-3
    with pytest.raises(ValueError, match="rank must be at least 1"):
        fine_tune([COMPLAINT], ["negative"], epochs=1, rank=0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("review", "no-such-review-model", r"^\[model\] review: no review model in no-such-review-model"),
        ("sentiment", "no-such-head", r"^\[model\] sentiment: unknown sentiment model 'no-such-head'"),
        ("sentiment", "transformers: ", r"^\[model\] sentiment: \"transformers:\" needs a model id"),
        ("multilingual", "no-such-head", r"^\[model\] multilingual: no sentiment head at no-such-head"),
    ],
)
def test_a_model_folder_typo_fails_before_anything_is_read(tmp_path, key, value, message):
    from refine.io.config import RefineConfig
    from refine.run.cycle import run_cycle

    class Untouchable:
        model_id = "untouchable"

        def encode(self, texts):  # pragma: no cover - reaching it is the failure
            raise AssertionError("the comments were embedded before the model settings were checked")

    config = RefineConfig()
    setattr(config.model, key, value)
    with pytest.raises(RefineError, match=message) as caught:
        run_cycle(
            tmp_path / "missing.csv",
            tmp_path / "missing.csv",
            config,
            tmp_path / "run",
            quiet=True,
            embedder=Untouchable(),
        )
    assert "\n" not in str(caught.value)
