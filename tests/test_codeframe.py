"""Codeframe: reading TOML / CSV, zero-shot assignment, candidates, and the suggest round trip across cycles."""

import json

import numpy as np
import pytest
from test_topics import APP, DELIVERY, REFUND, SIZING, STAFF

from refine.errors import RefineError
from refine.io.config import TopicSettings
from refine.text.themes import ThemeResult, fit_themes, load_codeframe, split_comments
from refine.text.themes.codeframe import Codeframe, CodeframeTheme, assign, build_prototypes, name_words

TOML = """
[[theme]]
name = "Late delivery"
parent = "Orders"
description = "the parcel or order arrived late, delivery delays"

[[theme]]
name = "Sizing and fit"
parent = "Product"
examples = ["runs small, size up", "too tight around the waist"]

[[theme]]
name = "App crashes"
parent = "App"
description = "the mobile app crashes, freezes or will not log in"

[[theme]]
name = "Friendly staff"
parent = "Store"
examples = ["the staff were friendly and helpful"]
"""


def test_reading_toml_and_csv(tmp_path):
    path = tmp_path / "codeframe.toml"
    path.write_text(TOML)
    frame = load_codeframe(path)
    assert frame.names == ["Late delivery", "Sizing and fit", "App crashes", "Friendly staff"]
    assert frame.themes[1].examples == ["runs small, size up", "too tight around the waist"]
    assert frame.parents() == ["Orders", "Product", "App", "Store"]
    csv_path = tmp_path / "codeframe.csv"
    csv_path.write_text("name,parent,examples,id\nLate delivery,Orders,parcel late | still waiting,4\nRefunds,,,\n")
    frame = load_codeframe(csv_path)
    assert frame.themes[0].examples == ["parcel late", "still waiting"] and frame.themes[0].id == 4
    assert frame.themes[1].parent is None and frame.themes[1].id is None


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ("[[theme]]\nparent = 'x'\n", ".toml", "needs a name"),
        ("[[theme]]\nname = 'a'\nid = 'seven'\n", ".toml", "whole number"),
        ("[[theme]]\nname = 'a'\n[[theme]]\nname = 'A'\n", ".toml", "listed twice"),
        ("[[theme]]\nname = 'a'\ncolour = 'red'\n", ".toml", "unknown key"),
        ("name = [", ".toml", "not valid TOML"),
        ("title,parent\nx,y\n", ".csv", "'name' column"),
        ("", ".toml", "lists no themes"),
        ("a", ".txt", ".toml or .csv"),
    ],
)
def test_bad_codeframes_are_one_line_errors(tmp_path, content, suffix, message):
    path = tmp_path / f"codeframe{suffix}"
    path.write_text(content)
    with pytest.raises(RefineError, match=message):
        load_codeframe(path)
    with pytest.raises(RefineError, match="not found"):
        load_codeframe(tmp_path / "missing.toml")


def test_name_words():
    assert name_words("card_arrival") == "card arrival" and name_words("TopUpFailed") == "top up failed"


def test_assignment_zero_shot(base_embedder):
    frame = Codeframe(
        [CodeframeTheme(name=n) for n in ("Late delivery", "Sizing and fit", "App crashes", "Friendly staff")]
    )
    texts = DELIVERY + SIZING + APP + STAFF
    truth = np.repeat(np.arange(4), [len(DELIVERY), len(SIZING), len(APP), len(STAFF)])
    placed = assign(base_embedder.encode(texts), build_prototypes(frame, base_embedder.encode))
    assert (placed.theme == truth).mean() >= 0.85
    assert (placed.theme == -1).mean() <= 0.1 and placed.prototypes.shape == (4, 384)


def test_example_vote_shares_out_only_the_themes_with_examples():
    from refine.text.themes.codeframe import _example_vote

    emb = np.eye(3, dtype=np.float32)
    examples = [np.eye(3, dtype=np.float32)[[0]], np.zeros((0, 3), dtype=np.float32), np.eye(3, dtype=np.float32)[[2]]]
    prob = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8]])
    vote = _example_vote(prob, emb, examples, temperature=0.05)
    assert np.allclose(vote.sum(axis=1), 1.0) and np.allclose(vote[:, 1], prob[:, 1])
    assert vote[0, 0] > 0.49 and vote[2, 2] > 0.89  # the nearest example takes the with-examples mass


@pytest.fixture(scope="module")
def month(base_embedder):
    docs = DELIVERY + SIZING + APP + STAFF + REFUND
    vectors = base_embedder.encode(docs)
    return docs, vectors, split_comments(docs, vectors, base_embedder.encode)


def test_suggest_round_trip_renames_and_moves_carry_over(base_embedder, month, tmp_path):
    """Cycle 1 discovers every theme; the team edits the suggested draft; cycle 2 keeps the ids."""
    from refine.cli.themes import suggest_codeframe

    docs, vectors, sentences = month
    encode = base_embedder.encode
    first = fit_themes(sentences, vectors, docs, TopicSettings(), encode=encode)
    run = tmp_path / "run"
    run.mkdir()
    (run / "topics.json").write_text(json.dumps(first.to_json()))
    draft = tmp_path / "draft.toml"
    counts = suggest_codeframe(run, draft)
    assert counts["themes"] == len(first.themes) and counts["candidates"] == len(first.themes)
    with pytest.raises(RefineError, match="exists"):
        suggest_codeframe(run, draft)
    edited = load_codeframe(draft)
    assert {(t.name, t.id) for t in edited.themes} == {(t.label, t.id) for t in first.themes}
    staff_rows = [i for i, d in enumerate(docs) if d in STAFF]
    staff_id = int(np.bincount(first.primary[staff_rows][first.primary[staff_rows] >= 0]).argmax())
    app_rows = [i for i, d in enumerate(docs) if d in APP]
    app_id = int(np.bincount(first.primary[app_rows][first.primary[app_rows] >= 0]).argmax())
    for t in edited.themes:  # rename one theme, move another under a new parent
        if t.id == app_id:
            t.name = "App stability"
        if t.id == staff_id:
            t.name, t.parent = "Friendly staff", "Store"
    second = fit_themes(
        sentences, vectors, docs, TopicSettings(), encode=encode, codeframe=edited,
        previous=ThemeResult.previous_from_json(json.loads(json.dumps(first.to_json()))),
    )  # fmt: skip
    again = {t.label: t for t in second.themes}
    assert again["App stability"].id == app_id and again["App stability"].status == "stable"
    assert again["Friendly staff"].id == staff_id and again["Friendly staff"].source == "codeframe"
    store = next(p for p in second.parents if p.label == "Store")
    assert again["Friendly staff"].id in store.children
    assert np.mean(second.primary[staff_rows] == staff_id) >= 0.8


def test_merges_carry_into_the_next_cycle(base_embedder, month, tmp_path):
    docs, vectors, sentences = month
    encode = base_embedder.encode
    path = tmp_path / "codeframe.toml"
    path.write_text(TOML)
    first = fit_themes(sentences, vectors, docs, TopicSettings(), encode=encode, codeframe=load_codeframe(path))
    ids = {t.label: t.id for t in first.themes}
    merged = Codeframe(
        [
            CodeframeTheme(name="Late delivery", merges=["Friendly staff"]),
            CodeframeTheme(name="Sizing and fit"),
            CodeframeTheme(name="App crashes"),
        ]
    )
    previous = ThemeResult.previous_from_json(json.loads(json.dumps(first.to_json())))
    second = fit_themes(sentences, vectors, docs, TopicSettings(), encode=encode, codeframe=merged, previous=previous)
    assert {t.label: t.id for t in second.themes if t.source == "codeframe"} == {
        k: ids[k] for k in ("Late delivery", "Sizing and fit", "App crashes")
    }
    assert ids["Friendly staff"] not in {t.id for t in second.fading}  # merged, not fading
    assert second.method["merged"] == [
        {"id": ids["Friendly staff"], "label": "Friendly staff", "into": "Late delivery"}
    ]


def test_off_codeframe_subject_goes_to_discovery_as_a_group(base_embedder):
    """Refund comments with no refund theme in the codeframe: left out (for discovery), the rest placed."""
    frame = Codeframe(
        [CodeframeTheme(name=n) for n in ("Late delivery", "Sizing and fit", "App crashes", "Friendly staff")]
    )
    texts = DELIVERY + SIZING + APP + STAFF + REFUND
    truth = np.repeat(np.arange(5), [len(DELIVERY), len(SIZING), len(APP), len(STAFF), len(REFUND)])
    truth[truth == 4] = -1
    placed = assign(base_embedder.encode(texts), build_prototypes(frame, base_embedder.encode))
    assert placed.method["calibration"] == "per group"
    off = truth == -1
    assert (placed.theme[off] == -1).mean() >= 0.7
    assert (placed.theme[~off] == truth[~off]).mean() >= 0.85
    # groups given by the caller are used as they are: one group holding everything fits as a whole
    together = assign(
        base_embedder.encode(texts), build_prototypes(frame, base_embedder.encode), groups=np.zeros(len(texts), int)
    )
    assert (together.theme >= 0).all()
