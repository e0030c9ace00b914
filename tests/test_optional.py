"""Optional parts (extras): a setting that needs a missing one is a one-line "install refine[x]" error."""

import importlib.util
import sys

import pytest

from refine.errors import RefineError


@pytest.fixture
def without(monkeypatch):
    """Make modules look uninstalled, as on a machine without the extra."""

    def hide(*names: str) -> None:
        real = importlib.util.find_spec

        def find_spec(name, *args, **kwargs):
            return None if name.split(".")[0] in names else real(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        for name in names:
            monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError

    return hide


def test_onnx_backend_without_the_onnx_extra(without, tmp_path):
    from refine.text.embed import build_embedder

    without("onnxruntime")
    with pytest.raises(RefineError) as err:
        build_embedder("default", device="cpu", batch_size=8, cache_dir=tmp_path, backend="onnx-int8")
    message = str(err.value)
    assert message.startswith("[model] backend: backend 'onnx-int8' needs the optional onnxruntime")
    assert 'pip install "refine[onnx]"' in message and "\n" not in message


def test_dask_engine_without_the_dask_extra(without):
    from refine.io.config import RunSettings
    from refine.run.engines import Engine

    without("distributed")
    with pytest.raises(RefineError, match=r'\[run\] engine: engine "dask" needs .*pip install "refine\[dask\]"'):
        Engine(RunSettings(engine="dask"))
    assert Engine(RunSettings()).describe() == {"name": "local", "workers": 1}  # the default needs no extra


def test_require_names_the_extra(without):
    from refine.optional import require

    without("onnx")
    with pytest.raises(RefineError, match=r'the export needs the optional onnx .*"refine\[onnx\]"'):
        require("onnx", "onnx", "the export")
    assert require("onnx", "json", "anything").__name__ == "json"
