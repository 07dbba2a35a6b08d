"""tfjs graph converter on tiny graphs generated here in tfjs' on-disk format (model.json + .bin).

The real graphs (Human's emotion and BlazeFace) are checked against tfjs itself in
test_js_reference.py; these pin the converter's refusals and its batch handling.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from emoaudit.errors import NOT_CONVERTIBLE, ModelError
from emoaudit.models.convert.onnx_build import serialize
from emoaudit.models.convert.tfjs_graph import convert_tfjs_graph


def _placeholder(name: str, shape: list[int]) -> dict:
    dims = [{"size": str(d)} for d in shape]
    return {
        "name": name,
        "op": "Placeholder",
        "attr": {"shape": {"shape": {"dim": dims}}, "dtype": {"type": "DT_FLOAT"}},
    }


def _int_const(name: str, values: list[int]) -> dict:
    tensor = {
        "dtype": "DT_INT32",
        "tensorShape": {"dim": [{"size": str(len(values))}]},
        "intVal": values,
    }
    return {"name": name, "op": "Const", "attr": {"value": {"tensor": tensor}}}


def write_graph(folder: Path, nodes: list[dict], *, weights: dict[str, np.ndarray] | None = None):
    """model.json (+ one float32 shard when weights are given), as tfjs-converter writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = []
    if weights:
        specs = [
            {"name": k, "shape": list(v.shape), "dtype": "float32"} for k, v in weights.items()
        ]
        blob = b"".join(np.asarray(v, "<f4").tobytes() for v in weights.values())
        (folder / "group1-shard1of1.bin").write_bytes(blob)
        manifest = [{"paths": ["group1-shard1of1.bin"], "weights": specs}]
    model = {
        "format": "graph-model",
        "generatedBy": "emoaudit tests",
        "modelTopology": {"node": nodes},
        "weightsManifest": manifest,
    }
    path = folder / "model.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    return path


def test_an_unsupported_op_is_refused_in_one_line_naming_op_node_and_file(tmp_path):
    nodes = [
        _placeholder("x", [-1, 4]),
        _int_const("axis", [1]),
        {"name": "running_total", "op": "Cumsum", "input": ["x", "axis"]},
    ]
    path = write_graph(tmp_path, nodes)
    with pytest.raises(ModelError) as exc:
        convert_tfjs_graph(path)
    message = str(exc.value)
    why = "unsupported op Cumsum ('running_total')"
    assert message == NOT_CONVERTIBLE.format(path=path, why=why)
    assert "\n" not in message


def test_a_file_that_is_not_a_graph_model_is_refused_in_one_line(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": "layers-model", "modelTopology": {}}), encoding="utf-8")
    with pytest.raises(ModelError) as exc:
        convert_tfjs_graph(path)
    assert str(exc.value) == NOT_CONVERTIBLE.format(
        path=path, why="format 'layers-model' is not a tfjs graph-model"
    )


def _fixed_batch_graph(folder: Path, target: list[int]) -> Path:
    """x [1, 2, 2, 3] NHWC -> 1x1 conv to 4 channels -> Reshape(target), like BlazeFace's heads."""
    kernel = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4) / 10
    nodes = [
        _placeholder("x", [1, 2, 2, 3]),
        {"name": "w", "op": "Const"},
        {
            "name": "conv",
            "op": "Conv2D",
            "input": ["x", "w"],
            "attr": {
                "strides": {"list": {"i": ["1", "1", "1", "1"]}},
                "padding": {"s": base64.b64encode(b"VALID").decode()},
            },
        },
        _int_const("shape", target),
        {"name": "out", "op": "Reshape", "input": ["conv", "shape"]},
    ]
    return write_graph(folder, nodes, weights={"w": kernel})


def test_a_batch_fixed_at_one_becomes_dynamic_and_reshapes_keep_the_batch(tmp_path):
    model = convert_tfjs_graph(_fixed_batch_graph(tmp_path, [1, 8, 2]))
    session = ort.InferenceSession(serialize(model), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["N", 2, 2, 3]
    assert session.get_outputs()[0].shape == ["N", 8, 2]
    x = np.random.default_rng(3).normal(size=(5, 2, 2, 3)).astype(np.float32)
    got = session.run(None, {"x": x})[0]
    kernel = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    np.testing.assert_allclose(got, (x @ kernel).reshape(5, 8, 2), atol=1e-6)


def test_a_reshape_that_folds_the_fixed_batch_is_refused(tmp_path):
    path = _fixed_batch_graph(tmp_path, [16])
    with pytest.raises(ModelError) as exc:
        convert_tfjs_graph(path)
    assert "'out' reshapes the batch axis to 16" in str(exc.value)
    assert "\n" not in str(exc.value)
