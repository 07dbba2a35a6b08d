"""ONNX external data: weights kept beside the model file, hashed and inlined before running.

A large ONNX model may keep its weights in separate files named inside the graph
(``location``). ONNX Runtime, handed the model's bytes, looks those names up relative to the
*current directory*: run from elsewhere the model fails with a misleading message, and run from a
folder of private files any of them could be read as weights. Here every location is resolved
relative to the model file and must stay inside its folder (no absolute paths, no ``..``, no
link out of it); the files are read once, included in the model's sha256 (changed weights must
change the recorded hash and every cache key), and inlined into the bytes ONNX Runtime gets, so
nothing is looked up at run time and what ran is what was hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoaudit.errors import ModelError

EXTERNAL_OUTSIDE = (
    "{path}: external data '{location}' is outside the model's folder; "
    "keep weight files next to the model"
)
EXTERNAL_MISSING = "{path}: external data file '{location}' not found next to the model"
EXTERNAL_SHORT = (
    "{path}: external data '{location}' holds {size} bytes; tensor '{tensor}' needs "
    "bytes {start} to {end}"
)


def resolve_external_data(data: bytes, *, path: Path) -> tuple[bytes, str]:
    """(bytes to run, sha256) for the model file `path` whose bytes are `data`.

    Without external data both are unchanged: the bytes and their plain sha256 (so the zoo's
    recorded hashes stay valid). With it, the sha256 covers the model bytes and every external
    file (name and content), and the returned bytes hold the weights inline.
    """
    digest = hashlib.sha256(data)
    if b"location" not in data:  # every external reference names its file under this key
        return data, digest.hexdigest()
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        return data, digest.hexdigest()  # not ONNX: the session reports it (errors.NOT_ONNX)
    external = [t for t in _tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return data, digest.hexdigest()
    files: dict[str, bytes] = {}
    for tensor in external:
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        if location not in files:
            files[location] = _read_inside(path, location)
        content = files[location]
        start = int(info.get("offset") or 0)
        end = start + int(info["length"]) if info.get("length") else len(content)
        if start < 0 or end > len(content) or end < start:
            raise ModelError(
                EXTERNAL_SHORT.format(
                    path=path, location=location, size=len(content), tensor=tensor.name,
                    start=start, end=end,
                )
            )  # fmt: skip
        tensor.raw_data = content[start:end]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    for location in sorted(files):
        digest.update(b"\x00" + location.encode() + b"\x00")
        digest.update(hashlib.sha256(files[location]).digest())
    return model.SerializeToString(), digest.hexdigest()


def _read_inside(model_path: Path, location: str) -> bytes:
    """The file `location` names, which must lie inside the model file's folder."""
    folder = model_path.resolve().parent
    relative = Path(location)
    if not location or relative.is_absolute() or ".." in relative.parts or relative.drive:
        raise ModelError(EXTERNAL_OUTSIDE.format(path=model_path, location=location))
    target = (folder / relative).resolve()  # follows links: a link out of the folder is refused
    if not target.is_relative_to(folder):
        raise ModelError(EXTERNAL_OUTSIDE.format(path=model_path, location=location))
    if not target.is_file():
        raise ModelError(EXTERNAL_MISSING.format(path=model_path, location=location))
    try:
        with open(target, "rb") as fh:
            return fh.read()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ModelError(
            EXTERNAL_MISSING.format(path=model_path, location=location) + f" ({why})"
        ) from None


def _tensors(model: Any) -> Iterator[Any]:
    """Every TensorProto of the model: initializers and tensor attributes, subgraphs included."""
    for graph in _graphs(model.graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            yield from _attribute_tensors(node)
    for function in model.functions:
        for node in function.node:
            yield from _attribute_tensors(node)


def _graphs(graph: Any) -> Iterator[Any]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _attribute_tensors(node: Any) -> Iterator[Any]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
