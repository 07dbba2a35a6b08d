"""TensorFlow.js graph models (``model.json`` + ``.bin`` shards) to ONNX with numpy and onnx only.

A tfjs graph model is a frozen TensorFlow GraphDef in JSON with the constants stored in binary
shards (optionally uint8/uint16/float16 quantized). Each TensorFlow op used by the built-in models
(human's emotion and blazeface graphs) maps to one or a few ONNX ops; any other op is refused with
a one-line error instead of being guessed.

TensorFlow activations are NHWC; ONNX convolutions want NCHW. Every tensor is tracked with the
layout it is stored in, and a Transpose is inserted only where an op needs TensorFlow's own axis
order (Reshape, Softmax, reductions over the channel axis, graph outputs). Graph inputs and outputs
keep the original names and meaning: no post-processing is added or removed.

One deliberate change of shape: a graph exported with its batch fixed at 1 (BlazeFace's input is
[1, 256, 256, 3] and its Reshape targets are [1, 512, 16] etc.) gets a dynamic batch axis: the
input's first dimension becomes ``N`` and a Reshape whose target starts with that 1 copies the
batch from its input instead (ONNX Reshape ``0``), so a detector can run many photos per call.
A Reshape that would fold the batch into another axis is refused rather than guessed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from emoaudit.errors import MISSING_PATH, NOT_CONVERTIBLE, ModelError
from emoaudit.models.convert.onnx_build import GraphBuilder

_NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def read_tfjs_graph(model_json: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The model.json dict and its weights decoded as tfjs does (``q * scale + min``)."""
    if not model_json.is_file():
        raise ModelError(MISSING_PATH.format(path=model_json))
    try:
        model = json.loads(model_json.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(NOT_CONVERTIBLE.format(path=model_json, why=f"not JSON ({exc})")) from exc
    if model.get("format") != "graph-model" or "modelTopology" not in model:
        why = f"format '{model.get('format')}' is not a tfjs graph-model"
        raise ModelError(NOT_CONVERTIBLE.format(path=model_json, why=why))
    weights: dict[str, np.ndarray] = {}
    for group in model.get("weightsManifest", []):
        blob = b"".join(_read_shard(model_json.parent / p) for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            arr, offset = _decode_weight(spec, blob, offset, model_json)
            weights[spec["name"]] = arr
        if offset != len(blob):
            why = f"weights use {offset} bytes but the shards hold {len(blob)}"
            raise ModelError(NOT_CONVERTIBLE.format(path=model_json, why=why))
    return model, weights


def _read_shard(path: Path) -> bytes:
    if not path.is_file():
        raise ModelError(MISSING_PATH.format(path=path))
    return path.read_bytes()


def _decode_weight(spec: dict, blob: bytes, offset: int, where: Path) -> tuple[np.ndarray, int]:
    shape = [int(d) for d in spec["shape"]]
    count = int(np.prod(shape)) if shape else 1
    quant = spec.get("quantization")
    dtype = spec["dtype"]
    if dtype not in _NP_DTYPES:
        why = f"weight '{spec['name']}' has dtype {dtype}"
        raise ModelError(NOT_CONVERTIBLE.format(path=where, why=why))
    if quant:
        qtype = np.dtype(_QUANT_DTYPES[quant["dtype"]])
        raw = np.frombuffer(blob, dtype=qtype, count=count, offset=offset)
        offset += count * qtype.itemsize
        if quant["dtype"] == "float16":
            arr = raw.astype(np.float32)
        else:  # tfjs: Float32Array.from(q, v => v * scale + min), computed in double precision
            arr = (raw.astype(np.float64) * quant["scale"] + quant["min"]).astype(np.float32)
        return arr.astype(_NP_DTYPES[dtype]).reshape(shape), offset
    np_dtype = np.dtype(_NP_DTYPES[dtype])
    if dtype == "bool":
        np_dtype = np.dtype(np.uint8)
    arr = np.frombuffer(blob, dtype=np_dtype, count=count, offset=offset).reshape(shape)
    return arr.astype(_NP_DTYPES[dtype]), offset + count * np_dtype.itemsize


def convert_tfjs_graph(model_json: Path) -> onnx.ModelProto:
    """Translate a tfjs graph model; inputs/outputs keep their TensorFlow names (without ``:0``)."""
    model, weights = read_tfjs_graph(model_json)
    return _Converter(model_json, model, weights).run()


@dataclass
class _T:
    name: str  # ONNX tensor name
    rank: int
    nchw: bool  # True: a 4-D NHWC TensorFlow tensor stored transposed as NCHW


def _attr_s(node: dict, key: str, default: str = "") -> str:
    raw = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(raw).decode() if raw else default


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(v) for v in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_strings(node: dict, key: str) -> list[str]:
    vals = node.get("attr", {}).get(key, {}).get("list", {}).get("s", [])
    return [base64.b64decode(v).decode() for v in vals]


def _attr_f(node: dict, key: str, default: float) -> float:
    return float(node.get("attr", {}).get(key, {}).get("f", default))


def _attr_b(node: dict, key: str) -> bool:
    return bool(node.get("attr", {}).get(key, {}).get("b", False))


def _src(name: str) -> str:
    """Tensor reference 'node:0' -> 'node'; other output indices are not used by these graphs."""
    node, _, idx = name.partition(":")
    if idx not in ("", "0"):
        raise ValueError(name)
    return node


class _Converter:
    def __init__(self, path: Path, model: dict, weights: dict[str, np.ndarray]) -> None:
        self.path = path
        self.nodes = {n["name"]: n for n in model["modelTopology"]["node"]}
        self.weights = weights
        self.signature = model.get("userDefinedMetadata", {}).get("signature", {})
        self.g = GraphBuilder(path.stem)
        self.tensors: dict[str, _T] = {}
        self.consts: dict[str, np.ndarray] = {}
        self._const_names: dict[tuple[str, str], str] = {}
        self._layout_cache: dict[tuple[str, bool], str] = {}
        self.batch_freed = False  # the input's fixed batch of 1 was made dynamic

    def fail(self, why: str) -> ModelError:
        return ModelError(NOT_CONVERTIBLE.format(path=self.path, why=why))

    # -- graph walk -----------------------------------------------------------------------------

    def output_names(self) -> list[str]:
        outs = self.signature.get("outputs")
        if outs:
            return sorted(_src(v.get("name", k)) for k, v in outs.items())
        used = {_src(i) for n in self.nodes.values() for i in n.get("input", []) if i[0] != "^"}
        return sorted(
            n for n, node in self.nodes.items() if n not in used and node["op"] != "Const"
        )

    def topo_order(self, outputs: list[str]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}
        for out in outputs:
            stack = [(out, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name):
                    continue
                if name not in self.nodes:
                    raise self.fail(f"node '{name}' is referenced but not defined")
                state[name] = 1
                stack.append((name, True))
                inputs = [_src(i) for i in self.nodes[name].get("input", []) if i[0] != "^"]
                for src in reversed(inputs):
                    if not state.get(src):
                        stack.append((src, False))
        return order

    def run(self) -> onnx.ModelProto:
        outputs = self.output_names()
        for name in outputs:  # a graph output may be any op, not only an Identity
            self.g.reserve(name)
        handlers = self.handlers()
        for name in self.topo_order(outputs):
            node = self.nodes[name]
            op = node["op"]
            if op == "Const":
                self.consts[name] = self.const_value(node)
                continue
            if op not in handlers:
                raise self.fail(f"unsupported op {op} ('{name}')")
            self.tensors[name] = handlers[op](node)
        for name in outputs:
            t = self.tensors[name]
            src = self.plain(t)
            self.g.nodes.append(
                onnx.helper.make_node("Identity", [src], [name], name=f"{name}/out")
            )
            self.g.add_output(name, None)
        return self.g.model(doc=f"converted from tfjs graph model {self.path.name} by emoaudit")

    def const_value(self, node: dict) -> np.ndarray:
        name = node["name"]
        if name in self.weights:
            return self.weights[name]
        tensor = node.get("attr", {}).get("value", {}).get("tensor")
        if tensor is None:
            raise self.fail(f"constant '{name}' has no value")
        dims = [int(d.get("size", 0)) for d in tensor.get("tensorShape", {}).get("dim", [])]
        dtype = tensor.get("dtype", "DT_FLOAT")
        if dtype == "DT_INT32":
            vals, np_type = tensor.get("intVal", [0]), np.int32
        else:
            vals, np_type = tensor.get("floatVal", [0.0]), np.float32
        return np.broadcast_to(np.asarray(vals, dtype=np_type), dims).copy()

    # -- tensors and layouts --------------------------------------------------------------------

    def is_const(self, ref: str) -> bool:
        return _src(ref) in self.consts

    def const(self, ref: str) -> np.ndarray:
        return self.consts[_src(ref)]

    def const_input(self, ref: str, tag: str, value: np.ndarray | None = None) -> str:
        """Emit a constant as an initializer once per (name, transformation tag)."""
        key = (_src(ref), tag)
        if key not in self._const_names:
            arr = self.const(ref) if value is None else value
            self._const_names[key] = self.g.const(_src(ref) + (f"/{tag}" if tag else ""), arr)
        return self._const_names[key]

    def tensor(self, ref: str) -> _T:
        name = _src(ref)
        if name in self.tensors:
            return self.tensors[name]
        arr = self.const(name)
        return _T(self.const_input(name, ""), arr.ndim, False)

    def nchw(self, t: _T) -> str:
        if t.nchw or t.rank != 4:
            if not t.nchw:
                raise self.fail(f"tensor '{t.name}' is {t.rank}-D where a 4-D NHWC one is needed")
            return t.name
        key = (t.name, True)
        if key not in self._layout_cache:
            self._layout_cache[key] = self.g.op(
                "Transpose", [t.name], f"{t.name}/nchw", perm=[0, 3, 1, 2]
            )
        return self._layout_cache[key]

    def plain(self, t: _T) -> str:
        if not t.nchw:
            return t.name
        key = (t.name, False)
        if key not in self._layout_cache:
            self._layout_cache[key] = self.g.op(
                "Transpose", [t.name], f"{t.name}/nhwc", perm=[0, 2, 3, 1]
            )
        return self._layout_cache[key]

    def inputs(self, node: dict) -> list[str]:
        return [i for i in node.get("input", []) if i[0] != "^"]

    # -- ops ------------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Callable[[dict], _T]]:
        unary = {
            "Relu": "Relu",
            "Sigmoid": "Sigmoid",
            "Tanh": "Tanh",
            "Elu": "Elu",
            "Exp": "Exp",
            "Sqrt": "Sqrt",
            "Neg": "Neg",
            "Abs": "Abs",
        }
        binary = {
            "Add": "Add",
            "AddV2": "Add",
            "BiasAdd": "Add",
            "Sub": "Sub",
            "Mul": "Mul",
            "RealDiv": "Div",
            "Maximum": "Max",
            "Minimum": "Min",
        }
        table: dict[str, Callable[[dict], _T]] = {
            "Placeholder": self.placeholder,
            "Identity": self.identity,
            "StopGradient": self.identity,
            "Conv2D": self.conv,
            "_FusedConv2D": self.conv,
            "DepthwiseConv2dNative": self.conv,
            "FusedDepthwiseConv2dNative": self.conv,
            "MaxPool": self.pool,
            "AvgPool": self.pool,
            "Relu6": self.relu6,
            "LeakyRelu": self.leaky_relu,
            "Rsqrt": self.rsqrt,
            "Mean": self.reduce,
            "Max": self.reduce,
            "Sum": self.reduce,
            "Min": self.reduce,
            "Softmax": self.softmax,
            "Reshape": self.reshape,
            "Pad": self.pad,
            "PadV2": self.pad,
            "ConcatV2": self.concat,
            "Squeeze": self.squeeze,
            "MatMul": self.matmul,
            "_FusedMatMul": self.matmul,
        }
        for tf_op, onnx_op in unary.items():
            table[tf_op] = lambda node, o=onnx_op: self.unary(node, o)
        for tf_op, onnx_op in binary.items():
            table[tf_op] = lambda node, o=onnx_op: self.binary(node, o)
        return table

    def placeholder(self, node: dict) -> _T:
        dims = node.get("attr", {}).get("shape", {}).get("shape", {}).get("dim", [])
        shape: list[int | str] = [int(d.get("size", -1)) for d in dims]
        if shape and shape[0] == 1:
            self.batch_freed = True  # see the module docstring: batch 1 -> dynamic
        shape = ["N" if d == -1 or (i == 0 and d == 1) else d for i, d in enumerate(shape)]
        dtype = node.get("attr", {}).get("dtype", {}).get("type", "DT_FLOAT")
        if dtype != "DT_FLOAT":
            raise self.fail(f"input '{node['name']}' has dtype {dtype}")
        return _T(self.g.add_input(node["name"], shape), len(shape), False)

    def identity(self, node: dict) -> _T:
        return self.tensor(self.inputs(node)[0])

    def _spatial(self, node: dict, key: str) -> list[int]:
        vals = _attr_ints(node, key) or [1, 1, 1, 1]
        return vals[1:3]

    def _check_nhwc(self, node: dict) -> None:
        fmt = _attr_s(node, "data_format", "NHWC")
        if fmt != "NHWC":
            raise self.fail(f"'{node['name']}' uses data_format {fmt}")

    def _padding(self, node: dict) -> dict:
        pad = _attr_s(node, "padding", "VALID")
        if pad == "SAME":
            return {"auto_pad": "SAME_UPPER"}  # TF 'SAME': the odd pixel goes at the end
        if pad == "VALID":
            return {"auto_pad": "VALID"}
        if pad == "EXPLICIT":
            p = _attr_ints(node, "explicit_paddings")  # NHWC pairs
            return {"pads": [p[2], p[4], p[3], p[5]]}
        raise self.fail(f"'{node['name']}' has padding {pad}")

    def conv(self, node: dict) -> _T:
        self._check_nhwc(node)
        name, op = node["name"], node["op"]
        ins = self.inputs(node)
        x = self.nchw(self.tensor(ins[0]))
        w = self.const(ins[1])
        if "Depthwise" in op:
            kh, kw, cin, mult = w.shape
            kernel, group = w.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw), cin
        else:
            kernel, group = w.transpose(3, 2, 0, 1), 1
        conv_in = [x, self.const_input(ins[1], "oihw", np.ascontiguousarray(kernel))]
        fused = _attr_strings(node, "fused_ops")
        if fused and fused[0] == "BiasAdd":
            conv_in.append(self.const_input(ins[2], ""))
            fused = fused[1:]
        elif fused:
            raise self.fail(f"'{name}' fuses {fused}")
        attrs = dict(
            strides=self._spatial(node, "strides"),
            dilations=self._spatial(node, "dilations"),
            group=group,
            **self._padding(node),
        )
        out = self.g.op("Conv", conv_in, name if not fused else f"{name}/conv", **attrs)
        if fused:
            out = self._fused_activation(node, fused, out, extra=ins[3:])
        return _T(out, 4, True)

    def _fused_activation(self, node: dict, fused: list[str], x: str, *, extra: list[str]) -> str:
        name = node["name"]
        if len(fused) != 1:
            raise self.fail(f"'{name}' fuses {fused}")
        act = fused[0]
        if act == "Relu":
            return self.g.op("Relu", [x], name)
        if act == "Relu6":
            return self._clip(x, 0.0, 6.0, name)
        if act == "Elu":
            return self.g.op("Elu", [x], name)
        if act == "Sigmoid":
            return self.g.op("Sigmoid", [x], name)
        if act == "LeakyRelu":
            alpha = _attr_f(node, "leakyrelu_alpha", 0.2)
            return self.g.op("LeakyRelu", [x], name, alpha=alpha)
        if act == "Prelu":
            alpha = self.const(extra[0]).astype(np.float32).reshape(-1, 1, 1)
            return self.g.op("PRelu", [x, self.const_input(extra[0], "c11", alpha)], name)
        raise self.fail(f"'{name}' fuses activation {act}")

    def _clip(self, x: str, lo: float, hi: float, base: str) -> str:
        lo_name = self.g.const(f"{base}/lo", np.array(lo, np.float32))
        hi_name = self.g.const(f"{base}/hi", np.array(hi, np.float32))
        return self.g.op("Clip", [x, lo_name, hi_name], base)

    def pool(self, node: dict) -> _T:
        self._check_nhwc(node)
        x = self.nchw(self.tensor(self.inputs(node)[0]))
        op = "MaxPool" if node["op"] == "MaxPool" else "AveragePool"
        attrs = dict(
            kernel_shape=self._spatial(node, "ksize"),
            strides=self._spatial(node, "strides"),
            **self._padding(node),
        )
        return _T(self.g.op(op, [x], node["name"], **attrs), 4, True)

    def unary(self, node: dict, onnx_op: str) -> _T:
        t = self.tensor(self.inputs(node)[0])
        return _T(self.g.op(onnx_op, [t.name], node["name"]), t.rank, t.nchw)

    def relu6(self, node: dict) -> _T:
        t = self.tensor(self.inputs(node)[0])
        return _T(self._clip(t.name, 0.0, 6.0, node["name"]), t.rank, t.nchw)

    def leaky_relu(self, node: dict) -> _T:
        t = self.tensor(self.inputs(node)[0])
        alpha = _attr_f(node, "alpha", 0.2)
        return _T(self.g.op("LeakyRelu", [t.name], node["name"], alpha=alpha), t.rank, t.nchw)

    def rsqrt(self, node: dict) -> _T:
        t = self.tensor(self.inputs(node)[0])
        root = self.g.op("Sqrt", [t.name], f"{node['name']}/sqrt")
        return _T(self.g.op("Reciprocal", [root], node["name"]), t.rank, t.nchw)

    def binary(self, node: dict, onnx_op: str) -> _T:
        a_ref, b_ref = self.inputs(node)[:2]
        name = node["name"]
        consts = [self.is_const(a_ref), self.is_const(b_ref)]
        if all(consts):
            raise self.fail(f"'{name}' combines two constants (not folded by the tfjs converter)")
        if any(consts):
            t_ref, c_ref = (b_ref, a_ref) if consts[0] else (a_ref, b_ref)
            t, c = self.tensor(t_ref), self.const(c_ref).astype(np.float32)
            if t.nchw and c.ndim <= 4 and c.size > 1:
                # NHWC broadcasting of a per-channel constant becomes (C, 1, 1) in NCHW.
                if c.ndim == 4:
                    c = c.transpose(0, 3, 1, 2)
                elif c.shape[-1] == c.size:
                    c = c.reshape(-1, 1, 1)
                else:
                    t = _T(self.plain(t), t.rank, False)
            c_name = self.const_input(c_ref, "nchw" if t.nchw else "", c)
            ins = [c_name, t.name] if consts[0] else [t.name, c_name]
            return _T(self.g.op(onnx_op, ins, name), t.rank, t.nchw)
        a, b = self.tensor(a_ref), self.tensor(b_ref)
        if a.rank == 4 and b.rank == 4 and (a.nchw or b.nchw):
            return _T(self.g.op(onnx_op, [self.nchw(a), self.nchw(b)], name), 4, True)
        return _T(
            self.g.op(onnx_op, [self.plain(a), self.plain(b)], name), max(a.rank, b.rank), False
        )

    def reduce(self, node: dict) -> _T:
        ins = self.inputs(node)
        t = self.tensor(ins[0])
        axes = [int(a) % max(t.rank, 1) for a in np.ravel(self.const(ins[1]))]
        keep = _attr_b(node, "keep_dims")
        op = {"Mean": "ReduceMean", "Max": "ReduceMax", "Sum": "ReduceSum", "Min": "ReduceMin"}
        onnx_op = op[node["op"]]
        spatial_only = t.nchw and not keep and set(axes) >= {1, 2} and 3 not in axes
        if t.nchw and (keep or spatial_only):
            mapped = sorted(_NHWC_TO_NCHW_AXIS[a] for a in axes)
            out = self._reduce(onnx_op, t.name, mapped, keep, node["name"])
            return _T(out, 4 if keep else t.rank - len(axes), keep)
        out = self._reduce(onnx_op, self.plain(t), sorted(axes), keep, node["name"])
        return _T(out, t.rank if keep else t.rank - len(axes), False)

    def _reduce(self, op: str, x: str, axes: list[int], keep: bool, base: str) -> str:
        if op == "ReduceSum":  # opset 13+: axes is an input for ReduceSum only
            axes_name = self.g.const(f"{base}/axes", np.array(axes, np.int64))
            return self.g.op(op, [x, axes_name], base, keepdims=int(keep))
        return self.g.op(op, [x], base, axes=axes, keepdims=int(keep))

    def softmax(self, node: dict) -> _T:
        t = self.tensor(self.inputs(node)[0])
        return _T(self.g.op("Softmax", [self.plain(t)], node["name"], axis=-1), t.rank, False)

    def reshape(self, node: dict) -> _T:
        ins = self.inputs(node)
        t = self.tensor(ins[0])
        shape = self.const(ins[1]).astype(np.int64)
        tag = "i64"
        if self.batch_freed and not self.is_const(ins[0]) and shape.size and shape[0] != -1:
            if shape[0] != 1:
                why = f"'{node['name']}' reshapes the batch axis to {shape[0]}"
                raise self.fail(f"{why}; only batch-preserving reshapes can be made dynamic")
            shape, tag = np.concatenate([[0], shape[1:]]).astype(np.int64), "i64_batch"
        shape_name = self.const_input(ins[1], tag, shape)
        out = self.g.op("Reshape", [self.plain(t), shape_name], node["name"])
        return _T(out, int(shape.size), False)

    def pad(self, node: dict) -> _T:
        ins = self.inputs(node)
        t = self.tensor(ins[0])
        pads = self.const(ins[1]).astype(np.int64).reshape(-1, 2)
        x = t.name
        if t.nchw:
            pads = pads[[0, 3, 1, 2]]
        onnx_pads = np.concatenate([pads[:, 0], pads[:, 1]])
        pads_name = self.const_input(ins[1], "onnx_nchw" if t.nchw else "onnx", onnx_pads)
        value = self.const(ins[2]).astype(np.float32).reshape(()) if len(ins) > 2 else None
        value_name = self.g.const(f"{node['name']}/value", np.asarray(value or 0, np.float32))
        out = self.g.op("Pad", [x, pads_name, value_name], node["name"], mode="constant")
        return _T(out, t.rank, t.nchw)

    def concat(self, node: dict) -> _T:
        ins = self.inputs(node)
        parts = [self.tensor(r) for r in ins[:-1]]
        axis = int(self.const(ins[-1]).reshape(()))
        rank = parts[0].rank
        axis %= rank
        if rank == 4 and all(p.nchw for p in parts):
            names = [p.name for p in parts]
            out = self.g.op("Concat", names, node["name"], axis=_NHWC_TO_NCHW_AXIS[axis])
            return _T(out, 4, True)
        names = [self.plain(p) for p in parts]
        return _T(self.g.op("Concat", names, node["name"], axis=axis), rank, False)

    def squeeze(self, node: dict) -> _T:
        t = self.tensor(self.inputs(node)[0])
        dims = _attr_ints(node, "squeeze_dims")
        if not dims:
            raise self.fail(f"'{node['name']}' squeezes unknown dimensions")
        axes = self.g.const(f"{node['name']}/axes", np.array(sorted(dims), np.int64))
        out = self.g.op("Squeeze", [self.plain(t), axes], node["name"])
        return _T(out, t.rank - len(dims), False)

    def matmul(self, node: dict) -> _T:
        ins = self.inputs(node)
        a, b = self.tensor(ins[0]), self.tensor(ins[1])
        a_name, b_name = self.plain(a), self.plain(b)
        if _attr_b(node, "transpose_a"):
            a_name = self.g.op("Transpose", [a_name], f"{node['name']}/ta", perm=[1, 0])
        if _attr_b(node, "transpose_b"):
            b_name = self.g.op("Transpose", [b_name], f"{node['name']}/tb", perm=[1, 0])
        fused = _attr_strings(node, "fused_ops")
        out = self.g.op(
            "MatMul", [a_name, b_name], node["name"] if not fused else f"{node['name']}/mm"
        )
        if fused:
            if fused[0] != "BiasAdd":
                raise self.fail(f"'{node['name']}' fuses {fused}")
            rest = fused[1:]
            base = node["name"] if not rest else f"{node['name']}/bias"
            out = self.g.op("Add", [out, self.const_input(ins[2], "")], base)
            if rest:
                out = self._fused_activation(node, rest, out, extra=ins[3:])
        return _T(out, 2, False)
