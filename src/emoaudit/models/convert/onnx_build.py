"""Shared pieces for the numpy-only converters: a small graph builder with deterministic output.

The zoo promises the same ONNX bytes on every build (the model sha256 is part of every cache key
and every audit's provenance), so everything that could vary is pinned here: opset, IR version,
producer, and names that come only from the source graph or a counter, never from memory
addresses or clocks.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.14 reads it; fixed so bytes do not follow the onnx version
PRODUCER = "emoaudit-convert"
# Bump when a converter change alters the bytes it writes: the zoo rebuilds files written by an
# older version. 2: tfjs graphs with batch fixed at 1 get a dynamic batch axis (BlazeFace).
PRODUCER_VERSION = "2"


class GraphBuilder:
    """Accumulates nodes and initializers in insertion order, then emits one ModelProto."""

    def __init__(self, graph_name: str) -> None:
        self.graph_name = graph_name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()

    def fresh(self, base: str) -> str:
        """A tensor name derived from `base`, unique within the graph (deterministic suffixes)."""
        name, k = base, 1
        while name in self._names:
            name = f"{base}_{k}"
            k += 1
        self._names.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Keep `name` for a graph output written last, so no inner tensor takes it first."""
        self._names.add(name)

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str, **attrs) -> str:
        """Add a single-output node; returns its output name."""
        out = self.fresh(base)
        node_name = self.fresh(f"{base}/{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=node_name, **attrs))
        return out

    def add_input(self, name: str, shape: list[int | str], dtype: int = TensorProto.FLOAT) -> str:
        self._names.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def add_output(self, name: str, shape: list[int | str] | None, dtype: int = TensorProto.FLOAT):
        self.outputs.append(helper.make_tensor_value_info(name, dtype, shape))

    def model(self, *, doc: str = "", metadata: dict[str, str] | None = None) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, self.graph_name, self.inputs, self.outputs, self.initializers
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER,
            producer_version=PRODUCER_VERSION,
            doc_string=doc,
        )
        model.ir_version = IR_VERSION
        for key in sorted(metadata or {}):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(metadata[key])
        if any(not o.type.tensor_type.HasField("shape") for o in model.graph.output):
            # Output shapes are whatever the graph computes; let ONNX derive them.
            model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model)
        return model


def serialize(model: onnx.ModelProto) -> bytes:
    """Deterministic bytes: protobuf map fields are absent from ONNX, so plain serialisation is."""
    return model.SerializeToString(deterministic=True)
