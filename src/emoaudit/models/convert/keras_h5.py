"""Keras 2 ``.hdf5`` (model_config + weights) to ONNX with numpy, h5py and onnx only.

Why not tf2onnx: it needs TensorFlow, which the audit must not depend on. A Keras 2 file is a JSON
layer graph plus named weight arrays, and the CNNs that facial-expression work ships (mini-Xception
and friends) use a handful of layer types, so a direct translation is short and auditable.

Activations are kept NCHW inside the graph (what ONNX convolutions expect); the model input stays
NHWC like the Keras original, so the preprocessing spec reads the same for both. BatchNormalization
directly after a linear convolution is folded into that convolution's weights (inference-time
identity); elsewhere it is emitted as an ONNX BatchNormalization node.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from emoaudit.errors import MISSING_PATH, NOT_CONVERTIBLE, ModelError
from emoaudit.models.convert.onnx_build import GraphBuilder

_CONVS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")
_PASS_THROUGH = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "InputLayer")


@dataclass
class _Layer:
    kind: str
    name: str
    config: dict
    inputs: list[str]  # names of the layers feeding this one


@dataclass
class _Tensor:
    name: str  # ONNX tensor name
    rank: int  # 4 = NCHW activation, 2 = (N, features)


def read_keras_h5(path: Path) -> tuple[list[_Layer], dict[str, dict[str, np.ndarray]], dict]:
    """Layers in file order, weights by layer then short weight name (kernel, bias, gamma, ...)."""
    import h5py

    if not path.is_file():
        raise ModelError(MISSING_PATH.format(path=path))
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(NOT_CONVERTIBLE.format(path=path, why=f"not HDF5 ({exc})")) from exc
    with f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ModelError(NOT_CONVERTIBLE.format(path=path, why="no model_config attribute"))
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        group = f["model_weights"] if "model_weights" in f else f
        layers = _layers_from_config(config, path)
        weights = {layer.name: _layer_weights(group, layer.name) for layer in layers}
    return layers, weights, config


def _layers_from_config(config: dict, path: Path) -> list[_Layer]:
    cls = config.get("class_name")
    body = config.get("config")
    if cls == "Sequential":
        specs = body if isinstance(body, list) else body["layers"]
        layers, prev = [], None
        for spec in specs:
            name = spec["config"]["name"]
            layers.append(_Layer(spec["class_name"], name, spec["config"], [prev] if prev else []))
            prev = name
        return layers
    if cls in ("Model", "Functional"):
        layers = []
        for spec in body["layers"]:
            nodes = spec.get("inbound_nodes") or []
            if len(nodes) > 1:
                why = f"layer '{spec['name']}' is shared ({len(nodes)} call sites)"
                raise ModelError(NOT_CONVERTIBLE.format(path=path, why=why))
            inputs = [entry[0] for entry in nodes[0]] if nodes else []
            layers.append(_Layer(spec["class_name"], spec["name"], spec["config"], inputs))
        return layers
    raise ModelError(NOT_CONVERTIBLE.format(path=path, why=f"model class '{cls}'"))


def _layer_weights(group, layer_name: str) -> dict[str, np.ndarray]:
    if layer_name not in group:
        return {}
    g = group[layer_name]
    out = {}
    for raw in g.attrs.get("weight_names", []):
        full = raw.decode() if isinstance(raw, bytes) else raw
        short = full.rsplit("/", 1)[-1].split(":")[0]
        out[short] = np.asarray(g[full], dtype=np.float32)
    return out


def convert_keras_h5(path: Path) -> onnx.ModelProto:
    """Translate a Keras 2 HDF5 model into an ONNX graph with NHWC input and the same outputs."""
    layers, weights, config = read_keras_h5(path)
    return _Converter(path, layers, weights, config).run()


class _Converter:
    def __init__(self, path: Path, layers: list[_Layer], weights: dict, config: dict) -> None:
        self.path = path
        self.layers = layers
        self.weights = weights
        self.config = config
        self.g = GraphBuilder(config.get("config", {}).get("name", "keras_model") or "keras_model")
        self.tensors: dict[str, _Tensor] = {}
        consumers: dict[str, list[str]] = {layer.name: [] for layer in layers}
        for layer in layers:
            for src in layer.inputs:
                consumers[src].append(layer.name)
        self.consumers = consumers
        self.by_name = {layer.name: layer for layer in layers}
        self.folded: set[str] = set()

    def fail(self, why: str) -> ModelError:
        return ModelError(NOT_CONVERTIBLE.format(path=self.path, why=why))

    def run(self) -> onnx.ModelProto:
        handlers: dict[str, Callable[[_Layer], _Tensor]] = {
            "InputLayer": self.input_layer,
            "Conv2D": self.conv,
            "SeparableConv2D": self.conv,
            "DepthwiseConv2D": self.conv,
            "BatchNormalization": self.batchnorm,
            "Activation": self.activation_layer,
            "ReLU": self.relu_layer,
            "MaxPooling2D": self.pool,
            "AveragePooling2D": self.pool,
            "GlobalAveragePooling2D": self.global_pool,
            "GlobalMaxPooling2D": self.global_pool,
            "Add": self.add,
            "Flatten": self.flatten,
            "Dense": self.dense,
        }
        for layer in self.layers:
            if layer.kind in _PASS_THROUGH and layer.kind != "InputLayer":
                self.tensors[layer.name] = self.tensors[layer.inputs[0]]
                continue
            handler = handlers.get(layer.kind)
            if handler is None:
                raise self.fail(f"unsupported layer {layer.kind} ('{layer.name}')")
            if layer.name in self.folded:
                self.tensors[layer.name] = self.tensors[layer.inputs[0]]
                continue
            self.tensors[layer.name] = handler(layer)
        if self.config.get("class_name") == "Sequential" and "InputLayer" not in {
            layer.kind for layer in self.layers
        }:
            pass  # the first layer created the input in input_from_first_layer
        return self.finish()

    def finish(self) -> onnx.ModelProto:
        if self.config.get("class_name") == "Sequential":
            out_layers = [self.layers[-1].name]
        else:
            out_layers = [entry[0] for entry in self.config["config"]["output_layers"]]
        for name in out_layers:
            t = self.tensors[name]
            src = t.name
            if t.rank == 4:
                src = self.g.op("Transpose", [src], f"{name}/to_nhwc", perm=[0, 2, 3, 1])
            self.g.nodes.append(
                onnx.helper.make_node("Identity", [src], [name], name=f"{name}/output")
            )
            self.g.add_output(name, None)
        return self.g.model(doc="converted from Keras HDF5 by emoaudit")

    # -- layers ---------------------------------------------------------------------------------

    def input_layer(self, layer: _Layer) -> _Tensor:
        shape = layer.config.get("batch_input_shape") or layer.config.get("batch_shape")
        if not shape or len(shape) != 4:
            raise self.fail(f"input '{layer.name}' must be NHWC 4-D, got {shape}")
        dims: list[int | str] = ["N"] + [int(d) for d in shape[1:]]
        name = self.g.add_input(layer.name, dims)
        return _Tensor(
            self.g.op("Transpose", [name], f"{layer.name}/to_nchw", perm=[0, 3, 1, 2]), 4
        )

    def _input(self, layer: _Layer) -> _Tensor:
        if not layer.inputs:
            # Sequential without InputLayer: the first layer carries batch_input_shape.
            fake = _Layer("InputLayer", f"{layer.name}_input", layer.config, [])
            self.tensors[fake.name] = self.input_layer(fake)
            return self.tensors[fake.name]
        return self.tensors[layer.inputs[0]]

    def _padding(self, cfg: dict) -> dict:
        pad = cfg.get("padding", "valid")
        if pad == "same":
            return {"auto_pad": "SAME_UPPER"}  # TF/Keras 'same': the odd pixel goes at the end
        if pad == "valid":
            return {"auto_pad": "VALID"}
        raise self.fail(f"padding '{pad}'")

    def _check_channels_last(self, layer: _Layer) -> None:
        fmt = layer.config.get("data_format", "channels_last")
        if fmt != "channels_last":
            raise self.fail(f"layer '{layer.name}' uses data_format={fmt}")

    def _bn_after(self, layer: _Layer) -> _Layer | None:
        """The BatchNormalization that can be folded into `layer`, if any."""
        if layer.config.get("activation", "linear") != "linear":
            return None
        nxt = self.consumers.get(layer.name, [])
        if len(nxt) != 1 or self.by_name[nxt[0]].kind != "BatchNormalization":
            return None
        bn = self.by_name[nxt[0]]
        if bn.config.get("axis", -1) not in (-1, 3, [3], [-1]):
            return None
        return bn

    def conv(self, layer: _Layer) -> _Tensor:
        self._check_channels_last(layer)
        cfg, w = layer.config, self.weights[layer.name]
        x = self._input(layer)
        strides = [int(s) for s in cfg.get("strides", (1, 1))]
        dil = [int(d) for d in cfg.get("dilation_rate", (1, 1))]
        common = dict(strides=strides, dilations=dil, **self._padding(cfg))
        if layer.kind == "SeparableConv2D":
            dw = w["depthwise_kernel"]
            kh, kw, cin, mult = dw.shape
            dw_onnx = dw.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
            wname = self.g.const(f"{layer.name}/depthwise_kernel", dw_onnx)
            x = _Tensor(
                self.g.op("Conv", [x.name, wname], f"{layer.name}/depthwise", group=cin, **common),
                4,
            )
            kernel = w["pointwise_kernel"].transpose(3, 2, 0, 1)
            common = dict(strides=[1, 1], dilations=[1, 1], auto_pad="VALID")
            group = 1
        elif layer.kind == "DepthwiseConv2D":
            dw = w["depthwise_kernel"]
            kh, kw, cin, mult = dw.shape
            kernel, group = dw.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw), cin
        else:
            kernel, group = w["kernel"].transpose(3, 2, 0, 1), 1
        bias = w.get("bias", np.zeros(kernel.shape[0], np.float32))
        if not cfg.get("use_bias", True):
            bias = np.zeros(kernel.shape[0], np.float32)
        bn = self._bn_after(layer)
        if bn is not None:
            scale, shift = self._bn_affine(bn)
            kernel = kernel * scale[:, None, None, None]
            bias = bias * scale + shift
            self.folded.add(bn.name)
        kname = self.g.const(f"{layer.name}/kernel", kernel.astype(np.float32))
        bname = self.g.const(f"{layer.name}/bias", bias.astype(np.float32))
        out = self.g.op("Conv", [x.name, kname, bname], layer.name, group=group, **common)
        return self._activate(_Tensor(out, 4), cfg.get("activation", "linear"), layer.name)

    def _bn_affine(self, bn: _Layer) -> tuple[np.ndarray, np.ndarray]:
        w, cfg = self.weights[bn.name], bn.config
        mean, var = w["moving_mean"], w["moving_variance"]
        gamma = w["gamma"] if cfg.get("scale", True) else np.ones_like(mean)
        beta = w["beta"] if cfg.get("center", True) else np.zeros_like(mean)
        scale = gamma / np.sqrt(var + np.float32(cfg.get("epsilon", 1e-3)))
        return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)

    def batchnorm(self, layer: _Layer) -> _Tensor:
        x = self._input(layer)
        scale, shift = self._bn_affine(layer)
        shape = (1, -1, 1, 1) if x.rank == 4 else (1, -1)
        s = self.g.const(f"{layer.name}/scale", scale.reshape(shape))
        b = self.g.const(f"{layer.name}/shift", shift.reshape(shape))
        y = self.g.op("Mul", [x.name, s], f"{layer.name}/mul")
        return _Tensor(self.g.op("Add", [y, b], layer.name), x.rank)

    def _activate(self, x: _Tensor, act: str, base: str) -> _Tensor:
        if act == "linear":
            return x
        simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu"}
        simple |= {"softplus": "Softplus", "softsign": "Softsign", "selu": "Selu"}
        if act in simple:
            return _Tensor(self.g.op(simple[act], [x.name], f"{base}/{act}"), x.rank)
        if act == "softmax":
            src = x.name
            if x.rank == 4:  # Keras softmax is over the last (channel) axis
                src = self.g.op("Transpose", [src], f"{base}/to_nhwc", perm=[0, 2, 3, 1])
                out = self.g.op("Softmax", [src], f"{base}/softmax", axis=-1)
                back = self.g.op("Transpose", [out], f"{base}/to_nchw", perm=[0, 3, 1, 2])
                return _Tensor(back, 4)
            return _Tensor(self.g.op("Softmax", [src], f"{base}/softmax", axis=-1), x.rank)
        raise self.fail(f"activation '{act}' in '{base}'")

    def activation_layer(self, layer: _Layer) -> _Tensor:
        return self._activate(self._input(layer), layer.config["activation"], layer.name)

    def relu_layer(self, layer: _Layer) -> _Tensor:
        cfg = layer.config
        if cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
            raise self.fail(f"ReLU '{layer.name}' with slope/threshold")
        x = self._input(layer)
        if cfg.get("max_value") is not None:
            lo = self.g.const(f"{layer.name}/min", np.array(0, np.float32))
            hi = self.g.const(f"{layer.name}/max", np.array(cfg["max_value"], np.float32))
            return _Tensor(self.g.op("Clip", [x.name, lo, hi], layer.name), x.rank)
        return _Tensor(self.g.op("Relu", [x.name], layer.name), x.rank)

    def pool(self, layer: _Layer) -> _Tensor:
        self._check_channels_last(layer)
        cfg, x = layer.config, self._input(layer)
        size = [int(s) for s in cfg.get("pool_size", (2, 2))]
        strides = [int(s) for s in (cfg.get("strides") or size)]
        op = "MaxPool" if layer.kind == "MaxPooling2D" else "AveragePool"
        out = self.g.op(
            op, [x.name], layer.name, kernel_shape=size, strides=strides, **self._padding(cfg)
        )
        return _Tensor(out, 4)

    def global_pool(self, layer: _Layer) -> _Tensor:
        self._check_channels_last(layer)
        x = self._input(layer)
        op = "ReduceMean" if layer.kind == "GlobalAveragePooling2D" else "ReduceMax"
        keep = bool(layer.config.get("keepdims", False))
        out = self.g.op(op, [x.name], layer.name, axes=[2, 3], keepdims=int(keep))
        return _Tensor(out, 4 if keep else 2)

    def add(self, layer: _Layer) -> _Tensor:
        xs = [self.tensors[name] for name in layer.inputs]
        acc = xs[0].name
        for k, t in enumerate(xs[1:], start=1):
            base = layer.name if k == len(xs) - 1 else f"{layer.name}/partial{k}"
            acc = self.g.op("Add", [acc, t.name], base)
        return _Tensor(acc, xs[0].rank)

    def flatten(self, layer: _Layer) -> _Tensor:
        x = self._input(layer)
        src = x.name
        if x.rank == 4:  # Keras flattens NHWC order
            src = self.g.op("Transpose", [src], f"{layer.name}/to_nhwc", perm=[0, 2, 3, 1])
        return _Tensor(self.g.op("Flatten", [src], layer.name, axis=1), 2)

    def dense(self, layer: _Layer) -> _Tensor:
        x, w = self._input(layer), self.weights[layer.name]
        if x.rank != 2:
            raise self.fail(f"Dense '{layer.name}' on a {x.rank}-D input")
        kernel = self.g.const(f"{layer.name}/kernel", w["kernel"])
        y = self.g.op("MatMul", [x.name, kernel], f"{layer.name}/matmul")
        if layer.config.get("use_bias", True):
            y = self.g.op("Add", [y, self.g.const(f"{layer.name}/bias", w["bias"])], layer.name)
        return self._activate(_Tensor(y, 2), layer.config.get("activation", "linear"), layer.name)
