"""Shared fixtures: the real default embedding model, loaded once per session, fully offline."""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
# hypothesis keeps its example database and caches outside the repository (default: ./.hypothesis)
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "refine-tests-hypothesis"))

import pytest


@pytest.fixture(scope="session")
def base_embedder():
    """The packaged all-MiniLM-L6-v2, uncached: one load for the whole session."""
    from refine.text.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("default", device="cpu", batch_size=64)


@pytest.fixture(scope="session")
def fake_embedder():
    """A deterministic hashing embedder (no model load) for tests that need vectors, not meaning."""
    from refine.text.embed import HashingEmbedder

    return HashingEmbedder()


def use_hashing_model(patch: pytest.MonkeyPatch) -> None:
    """Every cycle embeds with refine.text.embed.HashingEmbedder (cached as usual) instead of loading the model."""
    import refine.text.embed as embed

    patch.setattr(
        embed,
        "build_embedder",
        lambda model, *, cache_dir, **_: embed.CachedEmbedder(embed.HashingEmbedder(), cache_dir),
    )


@pytest.fixture
def hashing_model(monkeypatch):
    """Plumbing tests: cycles embed with the hashing embedder (see use_hashing_model)."""
    use_hashing_model(monkeypatch)


@pytest.fixture
def embedder(base_embedder, tmp_path):
    """The session model behind a fresh, empty content-hash cache."""
    from refine.text.embed import CachedEmbedder

    return CachedEmbedder(base_embedder, tmp_path / "cache")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """No test writes to the user's ~/.cache/refine; every test of the session shares one cache.

    Session-scoped so module fixtures (the demo run) see it too: a function-scoped one is set up
    after them, and the demo would fill a cache the later tests never read.
    """
    before = os.environ.get("REFINE_CACHE_DIR")
    os.environ["REFINE_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "refine-cache")
    yield
    if before is None:
        os.environ.pop("REFINE_CACHE_DIR", None)
    else:
        os.environ["REFINE_CACHE_DIR"] = before


def pytest_collection_modifyitems(config, items):
    """A test that asks for the session model is a real-model test (marker `real_model`, see pyproject.toml);
    tests that run the model inside a cycle or the CLI carry the marker themselves."""
    for item in items:
        if "base_embedder" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_model)
