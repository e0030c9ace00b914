"""The stage cache: keys that see every input, exact round trips, and misses instead of errors."""

import json

import numpy as np
import pandas as pd

from refine.memo import Digest, StageMemo
from refine.text.themes.topics import Topic, TopicModel


def test_digest_frames_values_and_sees_every_change():
    assert Digest("ab", "c").hexdigest() != Digest("a", "bc").hexdigest()
    assert Digest(["ab", "c"]).hexdigest() != Digest(["a", "bc"]).hexdigest()
    assert Digest(np.zeros(4, np.float32)).hexdigest() != Digest(np.zeros(2, np.float64)).hexdigest()
    frame = pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0]})
    changed = frame.copy()
    changed.loc[1, "x"] = 2.5
    assert Digest(frame).hexdigest() == Digest(frame.copy()).hexdigest()
    assert Digest(frame).hexdigest() != Digest(changed).hexdigest()
    assert Digest({"a": 1, "b": [1, 2]}).hexdigest() == Digest({"b": [1, 2], "a": 1}).hexdigest()


def test_store_and_load_round_trip_exactly(tmp_path):
    memo = StageMemo(tmp_path)
    value = {
        "p": 0.1 + 0.2,
        "tiny": 1e-300,
        "nan": float("nan"),
        "n": np.int64(3),
        "f": np.float32(0.5),
        "nested": [{"rule": 'region == "north"', "q": [1.0 / 3]}],
    }
    arrays = {"ids": np.array([3, -1, 0]), "sim": np.array([0.25, 0.5, 1.0], dtype=np.float32)}
    key = Digest("stage", 1).hexdigest()
    assert memo.load("stage", key) is None
    memo.store("stage", key, value, arrays)
    loaded, loaded_arrays = StageMemo(tmp_path).load("stage", key)
    assert loaded["p"] == 0.1 + 0.2 and loaded["tiny"] == 1e-300 and np.isnan(loaded["nan"])
    assert loaded["n"] == 3 and loaded["f"] == 0.5 and loaded["nested"] == value["nested"]
    for name, array in arrays.items():
        assert loaded_arrays[name].dtype == array.dtype and np.array_equal(loaded_arrays[name], array)


def test_unfinished_corrupt_or_foreign_entries_are_misses(tmp_path):
    memo = StageMemo(tmp_path)
    key = Digest("stage", 2).hexdigest()
    memo.store("stage", key, {"x": 1}, {"a": np.arange(3)})
    entry = tmp_path / "stages" / "stage" / key[:2] / key
    (entry / "result.json").write_text('{"format": 1, "key": "')  # a kill mid-write of an older version
    assert memo.load("stage", key) is None
    (entry / "result.json").write_text(json.dumps({"format": 1, "key": "other", "value": {"x": 1}}))
    assert memo.load("stage", key) is None
    (entry / "result.json").write_text(json.dumps({"format": 1, "key": key, "value": {"x": 1}}))
    (entry / "arrays.npz").write_bytes(b"not an npz")
    assert memo.load("stage", key) is None
    off = StageMemo(None)
    off.store("stage", key, {"x": 1})
    assert off.load("stage", key) is None and off.used == {"stage": "computed"}


def test_topic_model_payload_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(2, 8)).astype(np.float32)
    model = TopicModel(
        doc_topics=np.array([0, 1, -1, 0]),
        doc_similarity=np.array([0.9, 0.8, 0.2, 0.7], np.float32),
        topics=[
            Topic(0, "late delivery", ["late", "delivery"], 2, centroids[0], ["It came late."], "new"),
            Topic(1, "sizing", ["size", "small"], 1, centroids[1], ["Runs small."], "stable"),
        ],
        fading=[{"id": 7, "label": "old", "keywords": ["old"], "centroid": [0.1, 0.2]}],
        method={"reducer": "pca", "n_docs": 4, "outlier_similarity": 0.35},
        outlier_similarity=0.35,
    )
    memo = StageMemo(tmp_path)
    memo.store("topics", "k" * 64, *model.to_payload())
    again = TopicModel.from_payload(*memo.load("topics", "k" * 64))
    assert again.to_records({0: -0.5}) == model.to_records({0: -0.5})
    assert np.array_equal(again.doc_topics, model.doc_topics)
    assert np.array_equal(again.doc_similarity, model.doc_similarity)
    assert again.method == model.method and again.fading == model.fading
    ids, sims = again.assign(centroids)
    assert ids.tolist() == [0, 1] and np.array_equal(sims, model.assign(centroids)[1])
