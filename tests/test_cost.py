"""Issue 32, cost at scale: the estimate said before the first embedding (refine.text.embed_cost), calibrated
from the cache's own record, and `refine run --estimate`, which prints it and stops."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from refine.cli.main import app
from refine.demo.company import generate_company, write_demo_data
from refine.io.config import load_config
from refine.run.cycle import estimate_cycle, run_cycle
from refine.text import embed_cost
from refine.text.embed import CachedEmbedder, HashingEmbedder


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """A small synthetic company and a fresh cache folder of its own."""
    monkeypatch.setenv("REFINE_CACHE_DIR", str(tmp_path / "cache"))
    return write_demo_data(tmp_path / "data", generate_company(seed=5, n_customers=600, response_rate=0.3))


def _cli(paths, out, *extra):
    args = ["run", "-f", str(paths["feedback"]), "-c", str(paths["customers"]), "--config", str(paths["config"])]
    return CliRunner().invoke(app, [*args, "--out", str(out), *extra])


def test_run_estimate_prints_counts_and_stops_before_any_embedding(demo, tmp_path, hashing_model):
    result = _cli(demo, tmp_path / "run", "--estimate")
    assert result.exit_code == 0, result.output
    config = load_config(demo["config"])
    expected = estimate_cycle(demo["feedback"], demo["customers"], config, tmp_path / "run", quiet=True)
    lines = [line for line in result.output.splitlines() if line.startswith("estimate: ")]
    assert lines == [f"estimate: {line}" for line in expected.lines()]
    assert f"{expected.comments:,} comments" in lines[0] and "BUILT-IN" in lines[2]
    assert expected.to_embed > expected.comments > 0 and expected.cached == 0  # comments and cut sentences
    # nothing written: no run folder, nothing embedded into the cache, no rejects.csv
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "cache" / "embeddings").exists()


def test_estimate_counts_what_the_run_embeds_and_a_run_calibrates_it(demo, tmp_path, hashing_model):
    config = load_config(demo["config"])
    before = estimate_cycle(demo["feedback"], demo["customers"], config, tmp_path / "run", quiet=True)
    assert not before.calibrated and not before.rest_calibrated
    run_cycle(demo["feedback"], demo["customers"], config, tmp_path / "run", quiet=True)
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    computed = (
        manifest["embedding_cache"]["documents"]["computed"] + manifest["embedding_cache"]["sentences"]["computed"]
    )
    assert before.to_embed == computed  # the distinct comments and sentences the run did embed
    assert before.comments == manifest["counts"]["feedback_accepted"]
    record = (tmp_path / "cache" / embed_cost.THROUGHPUT_FILE).read_text()
    assert "cold" in json.loads(record)["stages"]
    comments = pd.read_csv(demo["feedback"], dtype=str, keep_default_na=False)["Comment Text"]
    assert not any(text in record for text in comments if len(text) > 12)  # counts and seconds, never a text
    again = estimate_cycle(demo["feedback"], demo["customers"], config, tmp_path / "again", quiet=True)
    assert again.to_embed == 0 and again.cached == computed and again.embed_s == 0
    assert again.calibrated  # the hashing model's throughput is on record now
    # a warm rerun calibrates the warm figure, and the next estimate says so
    run_cycle(demo["feedback"], demo["customers"], config, tmp_path / "again", quiet=True)
    third = estimate_cycle(demo["feedback"], demo["customers"], config, tmp_path / "third", quiet=True)
    assert third.rest_calibrated and "calibrated from this cache's earlier runs" in third.lines()[2]


def test_estimate_reads_the_recorded_throughput(tmp_path, monkeypatch):
    monkeypatch.setattr(embed_cost, "busy", lambda: 1.0)  # a machine with a core to spare
    model = "some/model"
    embed_cost.record_embedding(tmp_path, model, texts=100, units=10_000, seconds=20.0, load_s=4.0)
    embed_cost.record_embedding(tmp_path, model, texts=100, units=30_000, seconds=20.0, load_s=2.0)
    embed_cost.record_stages(
        tmp_path, 1000, embed_cost.REST_FIXED_S["cold"] + 5.0, warm=False, texts=100, scoring_s=3.0
    )
    texts = ["short one", "x" * 5000]  # the model reads MAX_CHARS characters of a long text at most
    result = embed_cost.estimate(tmp_path, model, "torch", texts, comments=2000, sentences=10, cached=3, customers=9)
    units = 2 * embed_cost.OVERHEAD_CHARS + len("short one") + embed_cost.MAX_CHARS
    assert result.units == units
    assert result.embed_s == pytest.approx(units * 40.0 / 40_000 + 3.0)  # pooled rate, mean load
    # the stages after embedding: fixed + per comment, and the sentiment stage per text it has not scored yet
    assert result.rest_s == pytest.approx(embed_cost.REST_FIXED_S["cold"] + 2000 * 5.0 / 1000 + 2 * 3.0 / 100)
    assert result.calibrated and result.rest_calibrated
    # another model's record, or none at all: the built-in figure, said as such
    other = embed_cost.estimate(tmp_path, "other", "torch", texts, comments=2, sentences=0, cached=0, customers=1)
    assert not other.calibrated
    assert other.embed_s == pytest.approx(units * embed_cost.BUILTIN_S_PER_UNIT["torch"] + embed_cost.BUILTIN_LOAD_S)
    # the load is kept and said, not used to scale (scaling by it missed by 2-4x on the shared machine)
    embed_cost.record_embedding(tmp_path, "shared", texts=100, units=1000, seconds=40.0, load_s=0.0, shared=4.0)
    monkeypatch.setattr(embed_cost, "busy", lambda: 2.0)
    busy = embed_cost.estimate(tmp_path, "shared", "torch", ["x" * 960], comments=0, sentences=0, cached=0, customers=0)
    assert busy.embed_s == pytest.approx(40.0) and "busy (load 2.0x its cores)" in busy.lines()[2]


def test_an_unreadable_record_is_no_record(tmp_path):
    (tmp_path / embed_cost.THROUGHPUT_FILE).write_text("{not json")
    result = embed_cost.estimate(tmp_path, "m", "onnx-int8", ["a text"], comments=1, sentences=0, cached=0, customers=1)
    assert not result.calibrated and "BUILT-IN" in result.lines()[2]
    embed_cost.record_embedding(tmp_path, "m", texts=64, units=6400, seconds=1.0, load_s=0.0)  # replaces it
    assert embed_cost.estimate(
        tmp_path, "m", "onnx-int8", ["a"], comments=1, sentences=0, cached=0, customers=1
    ).calibrated


def test_cached_embedder_records_throughput_and_lists_missing_texts(tmp_path):
    embedder = CachedEmbedder(HashingEmbedder(), tmp_path)
    texts = [f"comment number {i}" for i in range(40)]
    assert embedder.missing(texts + texts[:5]) == (texts, 0)
    embedder.encode(texts)
    assert embedder.missing(texts + ["a new one"]) == (["a new one"], 40)
    record = json.loads((tmp_path / embed_cost.THROUGHPUT_FILE).read_text())["embedding"]["hashing-384"]
    assert record[0]["texts"] == 40 and record[0]["units"] == embed_cost.work_units(texts)


def test_the_review_model_loads_without_torch():
    """A warm rerun reads every review score from the cache: building the model's cache key imports no torch."""
    import subprocess
    import sys

    code = (
        "import sys; from refine.text.sentiment.review import load_review_model; "
        "from refine.versions import package_versions; m = load_review_model('default'); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert f\"torch {package_versions(['torch'])['torch']}\" in m.cache_key"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


class _Counting(HashingEmbedder):
    """The hashing embedder, counting every text it is asked to embed."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return super().encode(texts)


def test_each_piece_of_text_is_embedded_once(tmp_path):
    """A sentence said in many comments, or said alone as a comment, is embedded once; a one-sentence comment's
    sentence vector is its comment vector."""
    from refine.text.sentences import build_sentences

    said = "The parcel arrived two weeks late."
    comments = [
        said,
        f"{said} The fit is great though.",
        f"Love the colour of it. {said}",
        f"{said} The fit is great though.",
        "Checkout keeps failing on my card.",
    ]
    counting = _Counting()
    embedder = CachedEmbedder(counting, tmp_path)
    vectors = embedder.encode(comments)
    table = build_sentences(comments, vectors, embedder)
    assert sorted(counting.seen) == sorted(set(comments) | {"The fit is great though.", "Love the colour of it."})
    whole = table.frame.groupby("feedback_row").size() == 1
    for row in whole[whole].index:  # the very same vector, not a second embedding of the same text
        sentence = table.frame.index[table.frame["feedback_row"] == row][0]
        assert (table.embeddings[sentence] == vectors[row]).all()


def test_digest_reads_an_embedding_matrix_in_place_and_keeps_its_value():
    """A stage key hashes the embedding matrix without a second copy of it, and to the same digest as before."""
    import hashlib
    import tracemalloc

    import numpy as np

    from refine.memo import FORMAT, Digest

    vectors = np.random.default_rng(0).random((20_000, 384), dtype=np.float32)  # 30.7 MB
    tracemalloc.start()
    key = Digest("themes", vectors).hexdigest()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000, f"hashing allocated {peak} bytes"
    # the digest as computed when the bytes were copied out (array.tobytes()): stored stage results stay valid
    old = hashlib.sha256()
    for tag, payload in (
        ("json", str(FORMAT).encode()),
        ("json", b'"themes"'),
        (f"nd{vectors.dtype.str}{vectors.shape}", vectors.tobytes()),
    ):
        old.update(f"{tag}:{len(payload)}:".encode())
        old.update(payload)
    assert key == old.hexdigest()
    dates = np.array(["2026-11-01", "2026-11-02"], dtype="datetime64[D]")  # no buffer: copied, as before
    assert Digest(dates).hexdigest() == Digest(dates.copy()).hexdigest()


def test_pooled_comment_vectors_are_the_normalised_mean_of_the_sentences():
    from refine.text.sentences import pool_sentences, sentence_weights

    x = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], dtype=np.float32)
    plain = pool_sentences(x, np.array([0, 0, 1]), 3)
    assert np.allclose(plain[0], [2**-0.5, 2**-0.5]) and np.allclose(plain[1], [0.6, 0.8])
    assert (plain[2] == 0).all()  # a comment with no sentence: a zero row, never a division by zero
    weights = sentence_weights(["one two three", "four"], "length")
    assert weights.tolist() == [3.0, 1.0] and sentence_weights(["a b"], "mean") is None
    weighted = pool_sentences(x[:2], np.array([0, 0]), 1, weights)
    assert np.allclose(weighted[0], np.array([3.0, 1.0]) / 10**0.5)


@pytest.mark.parametrize("how", ["mean", "length"])
def test_comment_vectors_from_sentences_embed_each_piece_once(demo, tmp_path, hashing_model, how):
    """[model] comment_vectors mean / length: a comment of two or more sentences and 25+ words is never embedded
    whole; its vector is its sentences' pooled mean; shorter comments are embedded whole as before; the estimate
    counts what the run embeds; a warm rerun embeds nothing and gives the same proposals."""
    from refine.text.sentences import POOL_MIN_WORDS, pool_sentences, sentence_weights, split_texts
    from refine.text.sentiment.stage import MIN_AGGREGATE_WORDS

    assert POOL_MIN_WORDS == MIN_AGGREGATE_WORDS  # pooled are the comments the stage reads by their sentences
    feedback = pd.read_csv(demo["feedback"], dtype=str, keep_default_na=False)
    comments = feedback["Comment Text"]
    feedback.loc[::7, "Comment Text"] = comments[::7].str.split(". ").str[0] + "."  # some of one sentence
    rows = np.arange(1, len(feedback) - 1, 5)
    longer = comments.iloc[rows].to_numpy() + " " + comments.iloc[rows + 1].to_numpy()
    feedback.loc[feedback.index[rows], "Comment Text"] = longer  # and some long ones
    feedback.to_csv(demo["feedback"], index=False)
    config = load_config(demo["config"])
    config.model.comment_vectors = how
    before = estimate_cycle(demo["feedback"], demo["customers"], config, tmp_path / "cold", quiet=True)
    cold = run_cycle(demo["feedback"], demo["customers"], config, tmp_path / "cold", quiet=True)
    manifest = json.loads((tmp_path / "cold" / "run.json").read_text())
    use = manifest["embedding_cache"]
    texts = cold.feedback["text"].tolist()
    frame = split_texts(texts)
    words = np.array([len(t.split()) for t in texts])
    pooled = sorted(set(frame.loc[~frame["whole"], "feedback_row"]) & set(np.flatnonzero(words >= POOL_MIN_WORDS)))
    rest = [i for i in range(len(texts)) if i not in set(pooled)]
    assert pooled and rest and len(set(frame.loc[~frame["whole"], "feedback_row"]) & set(rest)) > 0
    assert use["documents"]["computed"] == len({texts[i] for i in rest})  # the pooled ones are never embedded whole
    assert before.to_embed == use["documents"]["computed"] + use["sentences"]["computed"]
    cut = frame[~frame["whole"]]
    sentence_vectors = HashingEmbedder().encode(cut["text"].tolist())
    expected = pool_sentences(
        sentence_vectors, cut["feedback_row"].to_numpy(), len(texts), sentence_weights(cut["text"].tolist(), how)
    )
    assert np.allclose(cold.embeddings[pooled], expected[pooled], atol=1e-6)
    assert np.allclose(cold.embeddings[rest], HashingEmbedder().encode([texts[i] for i in rest]), atol=1e-6)
    run_cycle(demo["feedback"], demo["customers"], config, tmp_path / "warm", quiet=True)
    warm = json.loads((tmp_path / "warm" / "run.json").read_text())
    assert warm["embedding_cache"]["computed"] == 0
    for name in ("proposals.json", "topics.json"):
        assert (tmp_path / "cold" / name).read_bytes() == (tmp_path / "warm" / name).read_bytes(), name


def test_an_unknown_comment_vectors_setting_is_one_line():
    from refine.errors import RefineError
    from refine.io.config import config_from_dict

    with pytest.raises(RefineError) as err:
        config_from_dict({"model": {"comment_vectors": "median"}}, where="x.toml")
    assert "[model] comment_vectors must be one of whole, mean, length, got 'median'" in str(err.value)
