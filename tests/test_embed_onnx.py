"""The ONNX Runtime backends: exported locally once per module, compared with the torch fp32 model."""

import numpy as np
import pytest

from refine.errors import RefineError
from refine.io.config import CONFIG_TEMPLATE, config_from_dict
from refine.text.embed import CachedEmbedder, build_embedder
from refine.text.embed_onnx import CARD_FILE, OnnxEmbedder, export_folder

FEEDBACK = [
    "The parcel arrived three days late and the box was crushed.",
    "Great fit, lovely fabric, I ordered a second one in blue.",
    "Support never answered my emails about the refund.",
    "ok",
    "",
    "Why is the app asking me to log in every single time?!",
    "Checkout crashed twice on my phone, gave up and bought elsewhere.",
    "Love it love it love it",
    "The delivery driver was rude and left the package in the rain.",
    "Not bad, not great. Does the job.",
    "I was charged twice for the same order #48213, please fix.",
    "Customer service agent Maria was incredibly helpful and patient.",
    "The sizes run small; order one size up.",
    "Price went up 20% since last year with no new features.",
    "Cancelled my subscription because of the constant emails.",
    "Easy returns, refund showed up within two days. Impressed.",
    "the zipper broke after one wash",
    "Would recommend to friends and family without hesitation!",
    "App is slow to load on Android 12, especially the order history page.",
    "Colour looks nothing like the photos online.",
    "Très bon produit, livraison rapide.",
    "Das Paket kam beschädigt an.",
    "Producto excelente pero el envío tardó mucho.",
    "10/10 would buy again 😀👍",
    "worst. purchase. ever.",
    "I can't say I'm unhappy, but I'm not thrilled either.",
    "The material feels cheap and the stitching is already coming loose.",
    "Loyalty points disappeared from my account after the update.",
    "Fast shipping!!!",
    "Tried calling the hotline for an hour, nobody picked up.",
    "The dress is gorgeous but the lining is itchy.",
    "Website search never finds what I type, even exact product names.",
    "Delivery was on time, packaging was eco-friendly, very happy.",
    "Received the wrong item and the return label did not work.",
    "Good value for the money.",
    "My account got locked and the reset link expired immediately.",
    "The new store layout makes it hard to find anything.",
    "Staff at the Main Street branch were friendly and quick.",
    "Product stopped working after 2 weeks, warranty claim rejected.",
    "Nice",
    "I love the quality, but shipping costs are way too high for small orders.",
    "The chat bot kept sending me in circles instead of connecting me to a human.",
    "Bought this as a gift and my sister adores it.",
    "hate the new logo lol",
    "Everything was fine until the second delivery, which never came.",
    "Invoice PDF is missing the VAT number, our accountant needs it.",
    "Fits true to size and washes well.",
    "The discount code WELCOME10 did not apply at checkout.",
    "Too expensive compared to the competitors in town.",
    "I have been a member for ten years and this is the first time I am disappointed. " * 12,
]


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def int8_embedder(export_cache):
    embedder = OnnxEmbedder("default", backend="onnx-int8", cache_dir=export_cache, batch_size=16)
    embedder.encode(["warm up: exports once for the module"])
    return embedder


@pytest.fixture(scope="module")
def torch_vectors(base_embedder):
    return base_embedder.encode(FEEDBACK)


@pytest.mark.real_model
def test_int8_is_close_to_torch_fp32(int8_embedder, torch_vectors):
    vectors = int8_embedder.encode(FEEDBACK)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * torch_vectors).sum(axis=1)
    assert cosine.mean() >= 0.98, cosine.mean()
    assert cosine.min() >= 0.95, (cosine.min(), FEEDBACK[int(cosine.argmin())])

    # neighbours survive quantization: each text's nearest other text is mostly the same
    def nearest(v):
        sim = v @ v.T
        np.fill_diagonal(sim, -2)
        return sim.argmax(axis=1)

    assert (nearest(vectors) == nearest(torch_vectors)).mean() >= 0.8


@pytest.mark.real_model
def test_onnx_fp32_matches_torch(export_cache, torch_vectors):
    """Same tokens, same pooling, same normalisation as sentence-transformers: equal up to float noise."""
    embedder = OnnxEmbedder("default", backend="onnx", cache_dir=export_cache, batch_size=7)
    np.testing.assert_allclose(embedder.encode(FEEDBACK), torch_vectors, atol=1e-4)
    assert embedder.model_id == "sentence-transformers/all-MiniLM-L6-v2+onnx"


@pytest.mark.real_model
def test_int8_is_deterministic_and_in_input_order(int8_embedder, export_cache):
    first = int8_embedder.encode(FEEDBACK)
    again = OnnxEmbedder("default", backend="onnx-int8", cache_dir=export_cache, batch_size=16)
    np.testing.assert_array_equal(again.encode(FEEDBACK), first)
    assert again.folder == int8_embedder.folder  # the export was reused, not redone
    # activations are quantized per batch: other batch mates move a vector a little, never much
    # (onnxruntime 1.32: one short text measured 0.947 between two batchings, the rest above 0.98)
    backwards = int8_embedder.encode(FEEDBACK[::-1])[::-1]
    cosines = (backwards * first).sum(axis=1)
    assert cosines.min() > 0.9 and np.median(cosines) > 0.98
    # one text per batch: each vector depends on its own text only
    single = OnnxEmbedder("default", backend="onnx-int8", cache_dir=export_cache, batch_size=1)
    texts = FEEDBACK[:12]
    np.testing.assert_array_equal(single.encode(texts[::-1])[::-1], single.encode(texts))
    assert int8_embedder.encode([]).shape == (0, 384)


@pytest.mark.real_model
def test_int8_has_its_own_model_id_so_the_cache_keeps_them_apart(int8_embedder, base_embedder, tmp_path):
    assert int8_embedder.model_id == "sentence-transformers/all-MiniLM-L6-v2+onnx-int8"
    assert int8_embedder.model_id != base_embedder.model_id
    texts = FEEDBACK[:10]
    torch_cached = CachedEmbedder(base_embedder, tmp_path)
    torch_cached.encode(texts)
    int8_cached = CachedEmbedder(int8_embedder, tmp_path)
    from_int8 = int8_cached.encode(texts)
    assert (int8_cached.last_hits, int8_cached.last_computed) == (0, 10)  # no torch vector was reused
    int8_again = CachedEmbedder(int8_embedder, tmp_path)
    np.testing.assert_array_equal(int8_again.encode(texts), from_int8)
    assert int8_again.last_hits == 10
    torch_again = CachedEmbedder(base_embedder, tmp_path)
    torch_again.encode(texts)
    assert torch_again.last_hits == 10
    assert len({p.parent for p in tmp_path.rglob("shard-*.npz")}) == 2  # one cache folder per model id


@pytest.mark.real_model
def test_build_embedder_picks_the_backend(export_cache):
    embedder = build_embedder("default", device="cpu", batch_size=8, cache_dir=export_cache, backend="onnx-int8")
    assert isinstance(embedder.embedder, OnnxEmbedder)
    assert embedder.model_id.endswith("+onnx-int8")


def test_unknown_backend_is_a_one_line_error_naming_the_key(tmp_path):
    with pytest.raises(RefineError) as caught:
        config_from_dict({"model": {"backend": "tensorrt"}}, where="refine.toml")
    message = str(caught.value)
    assert "[model] backend" in message and "tensorrt" in message and "onnx-int8" in message
    assert "\n" not in message
    with pytest.raises(RefineError) as caught:
        build_embedder("default", device="cpu", batch_size=8, cache_dir=tmp_path, backend="int4")
    assert "[model] backend" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(RefineError, match=r"\[model\] backend"):
        config_from_dict({"model": {"backend": "onnx-int8", "device": "cuda"}})


def test_config_key_and_template():
    import tomllib

    assert config_from_dict({}).model.backend == "torch"  # fp32 stays the default
    assert config_from_dict({"model": {"backend": "onnx-int8"}}).model.backend == "onnx-int8"
    assert 'backend = "torch"' in CONFIG_TEMPLATE
    template = tomllib.loads(CONFIG_TEMPLATE)
    assert template["model"]["backend"] == "torch"


def test_a_killed_export_leaves_no_half_model(tmp_path, monkeypatch):
    import refine.text.embed_onnx as embed_onnx

    def dies_half_way(model, backend, folder):
        (folder / "model.onnx").write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(embed_onnx, "_export", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        embed_onnx.ensure_export(tmp_path, "default", "onnx-int8")
    final = export_folder(tmp_path, "default", "onnx-int8")
    assert not final.exists()
    assert list((tmp_path / "onnx").iterdir()) == []  # the temporary folder went too


@pytest.mark.real_model
def test_export_folder_holds_a_complete_export(int8_embedder):
    assert (int8_embedder.folder / CARD_FILE).is_file() and (int8_embedder.folder / "model.onnx").is_file()
    assert not list(int8_embedder.folder.parent.glob(".*.tmp-*"))
