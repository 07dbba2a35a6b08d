"""Build face-api's FaceExpressionNet as ONNX from its tfjs weight files, with numpy and onnx only.

face-api ships no graph, only named weights (``face_expression_model-weights_manifest.json`` +
``face_expression_model.bin``, uint8-quantized); the network is code in its TypeScript sources
(``faceFeatureExtractor/FaceFeatureExtractor.ts``, ``denseBlock.ts``,
``faceProcessor/FaceProcessor.ts``, ``faceExpressionNet/FaceExpressionNet.ts``). This module
rebuilds that code as ONNX nodes, so the architecture below must match those files line by line:

    x -> denseBlock4(dense0, first layer: plain 3x3 conv, stride 2)
      -> denseBlock4(dense1) -> denseBlock4(dense2) -> denseBlock4(dense3)   (each stride 2)
      -> avgPool 7x7 stride 2 'valid' -> flatten -> fc (matMul + bias) -> softmax

    denseBlock4: out1 = relu(conv0(x)); out2 = sep(out1); out3 = sep(relu(out1 + out2));
                 out4 = sep(relu(out1 + (out2 + out3)));
                 return relu(out1 + (out2 + (out3 + out4)))

where ``sep`` is tf.separableConv2d (depthwise 3x3 then pointwise 1x1, 'same') plus a bias and no
activation. Additions keep face-api's nesting so float rounding follows the original.

Graph contract: input ``input`` float32 [N, 112, 112, 3] NHWC, already normalised as face-api does
(``(rgb - [122.782, 117.001, 104.298]) / 255`` on the padded, resized crop); output
``probabilities`` float32 [N, 7] in face-api's order (neutral, happy, sad, angry, fearful,
disgusted, surprised). Padding and resizing stay outside the graph so the runner's preprocessing
spec remains data. Bytes are deterministic: fixed node/tensor names, no timestamps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from emoaudit.errors import BAD_MODEL_SPEC, MISSING_PATH, ModelError
from emoaudit.models.convert.onnx_build import GraphBuilder

MANIFEST = "face_expression_model-weights_manifest.json"
INPUT_SIZE = 112
FACEAPI_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
_DTYPE_BYTES = {"float32": 4, "int32": 4, "uint8": 1, "uint16": 2}


def read_tfjs_weights(manifest_path: Path) -> dict[str, np.ndarray]:
    """Decode a tfjs weights manifest + shards into float32 arrays, as tfjs' decodeWeights does.

    Quantized weights are dequantized as ``q * scale + min`` computed in double precision and
    stored as float32, which is what tfjs does (``Float32Array.from(q, v => v * scale + min)``),
    so the ONNX weights equal the ones the JavaScript runtime multiplies with.
    """
    if not manifest_path.is_file():
        raise ModelError(MISSING_PATH.format(path=manifest_path))
    try:
        groups = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            BAD_MODEL_SPEC.format(path=manifest_path, why=f"not JSON ({exc})")
        ) from exc
    weights: dict[str, np.ndarray] = {}
    for group in groups:
        shard_paths = [manifest_path.parent / p for p in group["paths"]]
        for p in shard_paths:
            if not p.is_file():
                raise ModelError(MISSING_PATH.format(path=p))
        data = b"".join(p.read_bytes() for p in shard_paths)
        offset = 0
        for spec in group["weights"]:
            quant = spec.get("quantization")
            stored = quant["dtype"] if quant else spec["dtype"]
            count = int(np.prod(spec["shape"], dtype=np.int64))
            nbytes = count * _DTYPE_BYTES[stored]
            if offset + nbytes > len(data):
                why = f"weight '{spec['name']}' runs past the end of the weight data"
                raise ModelError(BAD_MODEL_SPEC.format(path=manifest_path, why=why))
            raw = np.frombuffer(
                data, dtype=np.dtype(stored).newbyteorder("<"), count=count, offset=offset
            )
            offset += nbytes
            if quant:
                values = raw.astype(np.float64) * quant["scale"] + quant["min"]
            else:
                values = raw
            weights[spec["name"]] = values.astype(np.float32).reshape(spec["shape"])
    return weights


def _weight(weights: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in weights:
        raise ModelError(BAD_MODEL_SPEC.format(path=MANIFEST, why=f"missing weight '{key}'"))
    return weights[key]


def _same_pads(size: int, kernel: int, stride: int) -> list[int]:
    """TF 'same' padding for one spatial axis: the odd pixel goes at the end (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return [total // 2, total - total // 2]


Weights = dict[str, np.ndarray]


def _conv(g: GraphBuilder, weights: Weights, x: str, *, prefix: str, size: int, stride: int) -> str:
    """tf.conv2d(x, filters, stride, 'same') + bias: the first layer of dense0."""
    filters = _weight(weights, f"{prefix}/filters")  # [kh, kw, cin, cout]
    begin, end = _same_pads(size, filters.shape[0], stride)
    kernel = g.const(f"{prefix}/filters", filters.transpose(3, 2, 0, 1))
    bias = g.const(f"{prefix}/bias", _weight(weights, f"{prefix}/bias"))
    return g.op(
        "Conv",
        [x, kernel, bias],
        f"{prefix}/conv",
        kernel_shape=list(filters.shape[:2]),
        strides=[stride, stride],
        pads=[begin, begin, end, end],
    )


def _separable(
    g: GraphBuilder, weights: Weights, x: str, *, prefix: str, size: int, stride: int
) -> str:
    """tf.separableConv2d(x, depthwise, pointwise, stride, 'same') + bias (face-api's
    depthwiseSeparableConv): a grouped 3x3 conv without bias, then a 1x1 conv carrying the bias."""
    depthwise = _weight(weights, f"{prefix}/depthwise_filter")  # [kh, kw, c, 1]
    pointwise = _weight(weights, f"{prefix}/pointwise_filter")  # [1, 1, c, cout]
    begin, end = _same_pads(size, depthwise.shape[0], stride)
    dw = g.const(f"{prefix}/depthwise_filter", depthwise.transpose(2, 3, 0, 1))
    pw = g.const(f"{prefix}/pointwise_filter", pointwise.transpose(3, 2, 0, 1))
    bias = g.const(f"{prefix}/bias", _weight(weights, f"{prefix}/bias"))
    mid = g.op(
        "Conv",
        [x, dw],
        f"{prefix}/depthwise",
        group=depthwise.shape[2],
        kernel_shape=list(depthwise.shape[:2]),
        strides=[stride, stride],
        pads=[begin, begin, end, end],
    )
    return g.op("Conv", [mid, pw, bias], f"{prefix}/pointwise", kernel_shape=[1, 1])


def _dense_block4(g: GraphBuilder, weights: Weights, x: str, *, prefix: str, size: int) -> str:
    """face-api's denseBlock4 (isScaleDown = true): every block halves the spatial size; only
    dense0 starts with a plain conv (isFirstLayer), the others with a separable one."""
    conv0 = _conv if prefix == "dense0" else _separable
    first = conv0(g, weights, x, prefix=f"{prefix}/conv0", size=size, stride=2)
    out1 = g.op("Relu", [first], f"{prefix}/out1")
    size = -(-size // 2)

    def sep(inp: str, conv: str) -> str:
        return _separable(g, weights, inp, prefix=f"{prefix}/{conv}", size=size, stride=1)

    out2 = sep(out1, "conv1")
    in3 = g.op("Relu", [g.op("Add", [out1, out2], f"{prefix}/sum12")], f"{prefix}/in3")
    out3 = sep(in3, "conv2")
    sum23 = g.op("Add", [out2, out3], f"{prefix}/sum23")
    in4 = g.op("Relu", [g.op("Add", [out1, sum23], f"{prefix}/sum123")], f"{prefix}/in4")
    out4 = sep(in4, "conv3")
    sum34 = g.op("Add", [out3, out4], f"{prefix}/sum34")
    sum234 = g.op("Add", [out2, sum34], f"{prefix}/sum234")
    total = g.op("Add", [out1, sum234], f"{prefix}/sum1234")
    return g.op("Relu", [total], f"{prefix}/out")


def build_faceapi_expression(weights: Weights) -> onnx.ModelProto:
    """Assemble the ONNX graph from already-decoded face-api weights."""
    g = GraphBuilder("faceapi_expression")
    x = g.add_input("input", ["N", INPUT_SIZE, INPUT_SIZE, 3])
    x = g.op("Transpose", [x], "input_nchw", perm=[0, 3, 1, 2])
    size = INPUT_SIZE
    for i in range(4):
        x = _dense_block4(g, weights, x, prefix=f"dense{i}", size=size)
        size = -(-size // 2)
    # avgPool [7, 7], strides [2, 2], 'valid' on the 7x7 map -> 1x1; flatten order is then trivial.
    x = g.op("AveragePool", [x], "avg_pool", kernel_shape=[7, 7], strides=[2, 2])
    x = g.op("Flatten", [x], "features", axis=1)
    fc_w = g.const("fc/weights", _weight(weights, "fc/weights"))
    fc_b = g.const("fc/bias", _weight(weights, "fc/bias"))
    logits = g.op("Add", [g.op("MatMul", [x, fc_w], "fc/matmul"), fc_b], "logits")
    g.op("Softmax", [logits], "probabilities", axis=-1)
    g.add_output("probabilities", ["N", len(FACEAPI_LABELS)])
    return g.model(
        doc="face-api FaceExpressionNet (@vladmandic/face-api face_expression_model); input NHWC "
        "(rgb - [122.782, 117.001, 104.298]) / 255 on the padded, resized crop",
        metadata={"labels": ",".join(FACEAPI_LABELS), "source": "@vladmandic/face-api"},
    )


def convert_faceapi_expression(model_dir: Path) -> onnx.ModelProto:
    """Read face-api's face_expression weights from `model_dir` (its ``model/`` folder) and
    return the ONNX model; same files in, same bytes out (serialise with onnx_build.serialize)."""
    return build_faceapi_expression(read_tfjs_weights(Path(model_dir) / MANIFEST))
