"""Every comment and sentence carries its parent theme beside its child theme (issue 30, point 5)."""

import json

import pandas as pd
import pytest

from refine import schemas as S
from refine.demo.company import generate_company, write_demo_data
from refine.io.config import load_config
from refine.run.cycle import run_cycle
from refine.text.embed import HashingEmbedder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = write_demo_data(
        tmp_path_factory.mktemp("parents-data"), generate_company(seed=5, n_customers=600, response_rate=0.3)
    )
    out = tmp_path_factory.mktemp("parents-run") / "2026-11"
    result = run_cycle(
        data["feedback"], data["customers"], load_config(data["config"]), out, embedder=HashingEmbedder(), quiet=True
    )
    return out, result


def test_feedback_parquet_has_the_parent_of_each_comments_theme(run):
    out, _ = run
    feedback = pd.read_parquet(out / "feedback.parquet")
    topics = json.loads((out / "topics.json").read_text())
    parent_of = {t["id"]: t["parent_id"] for t in topics["topics"]}
    label_of = {p["id"]: p["label"] for p in topics["parents"]}
    themed = feedback[feedback[S.TOPIC_ID] >= 0]
    assert len(themed) and len(topics["parents"]) >= 2
    assert (themed[S.TOPIC_PARENT_ID] == themed[S.TOPIC_ID].map(parent_of)).all()
    assert (themed[S.TOPIC_PARENT_LABEL] == themed[S.TOPIC_PARENT_ID].map(label_of)).all()
    none = feedback[feedback[S.TOPIC_ID] < 0]
    assert (none[S.TOPIC_PARENT_ID] == -1).all() and (none[S.TOPIC_PARENT_LABEL] == "no topic").all()


def test_sentences_carry_their_themes_parent(run):
    _, result = run
    sentences = result.sentences
    parent_of = {t.id: t.parent_id for t in result.topics if t.status != "fading"}
    label_of = {p.id: p.label for p in result.parents}
    themed = sentences[sentences[S.TOPIC_ID] >= 0]
    assert len(themed)
    assert (themed[S.TOPIC_PARENT_ID] == themed[S.TOPIC_ID].map(parent_of)).all()
    assert (themed[S.TOPIC_PARENT_LABEL] == themed[S.TOPIC_PARENT_ID].map(label_of)).all()
    assert (sentences.loc[sentences[S.TOPIC_ID] < 0, S.TOPIC_PARENT_ID] == -1).all()
