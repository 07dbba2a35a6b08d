"""Any exported ONNX classifier, described by a small TOML spec (``--model-spec spec.toml``).

Users audit their own models without writing Python: the spec says how a face crop becomes the
input tensor and what each output means. Labels are mapped by name through the taxonomy, never by
position, and anything unknown is refused with a one-line error naming the spec file, because a
silently misread spec would produce a confident, wrong audit. The format is documented in
docs/model-zoo.md.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from emoaudit.errors import BAD_MODEL_SPEC, MISSING_PATH, NOT_ONNX, ModelError
from emoaudit.models.base import InputSpec, ModelInfo
from emoaudit.taxonomy import CANONICAL, canonical

_TABLES = {
    "model": {"name"},
    "input": {
        "height",
        "width",
        "layout",
        "color",
        "gray_weights",
        "scale",
        "mean",
        "std",
        "pad_square",
        "resize",
    },
    "output": {"labels", "kind"},
}
_CHOICES = {
    "layout": ("NHWC", "NCHW"),
    "color": ("rgb", "bgr", "gray"),
    "resize": ("bilinear", "area", "nearest", "pil", "bilinear_tf"),
}
SPEC_NEEDED = "{path}: an .onnx model needs --model-spec spec.toml (see docs/model-zoo.md)"


def generic_model_info(onnx_path: Path, *, spec_path: Path | None) -> ModelInfo:
    """ModelInfo for a user ONNX file; the file is checked to be ONNX before the spec is trusted."""
    check_onnx_file(onnx_path)
    if spec_path is None:
        raise ModelError(SPEC_NEEDED.format(path=onnx_path))
    spec = read_spec(Path(spec_path))
    name = spec.get("model", {}).get("name") or onnx_path.stem
    return ModelInfo(
        name=str(name),
        onnx_path=onnx_path,
        labels=spec["labels"],
        input=spec["input"],
        outputs_probabilities=spec["kind"] == "probs",
        source={"file": str(onnx_path), "spec": str(spec_path)},
    )


def check_onnx_file(path: Path) -> None:
    """Cheap structural check so a wrong file fails with NOT_ONNX, not a runtime traceback."""
    if not path.is_file():
        raise ModelError(MISSING_PATH.format(path=path))
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(NOT_ONNX.format(path=path, why=why[:200])) from None
    if not model.graph.node or not model.graph.input or not model.opset_import:
        raise ModelError(NOT_ONNX.format(path=path, why="no graph, inputs or opset in the file"))


def read_spec(path: Path) -> dict:
    """Parse and validate a spec file into {'input': InputSpec, 'labels': tuple, 'kind': str}."""
    if not path.is_file():
        raise ModelError(MISSING_PATH.format(path=path))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(BAD_MODEL_SPEC.format(path=path, why=f"not TOML ({exc})")) from None
    for table, value in raw.items():
        if table not in _TABLES or not isinstance(value, dict):
            _bad(path, f"unknown table [{table}] (expected {', '.join(sorted(_TABLES))})")
        extra = sorted(set(value) - _TABLES[table])
        if extra:
            _bad(path, f"unknown key '{extra[0]}' in [{table}]")
    for table in ("input", "output"):
        if table not in raw:
            _bad(path, f"missing table [{table}]")
    return {
        "model": raw.get("model", {}),
        "input": _input_spec(path, raw["input"]),
        "labels": _labels(path, raw["output"]),
        "kind": _kind(path, raw["output"]),
    }


def _bad(path: Path, why: str):
    raise ModelError(BAD_MODEL_SPEC.format(path=path, why=why))


def _input_spec(path: Path, table: dict) -> InputSpec:
    for key in ("height", "width"):
        value = table.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _bad(path, f"[input] {key} must be a positive integer, got {value!r}")
    for key, allowed in _CHOICES.items():
        if key in table and table[key] not in allowed:
            _bad(path, f"[input] {key} must be one of {', '.join(allowed)}, got {table[key]!r}")
    color = table.get("color", "rgb")
    n = 1 if color == "gray" else 3
    kwargs = {k: table[k] for k in ("layout", "color", "resize") if k in table}
    kwargs["scale"] = _number(path, table.get("scale", 1.0 / 255.0), "scale")
    for key in ("mean", "std"):
        values = table.get(key, [0.0] if key == "mean" else [1.0])
        values = values if isinstance(values, list) else [values]
        nums = tuple(_number(path, v, key) for v in values)
        if len(nums) not in (1, n):
            _bad(path, f"[input] {key} needs 1 or {n} values for color '{color}', got {len(nums)}")
        if key == "std" and any(v == 0 for v in nums):
            _bad(path, "[input] std must not contain 0")
        kwargs[key] = nums
    if "gray_weights" in table:
        weights = tuple(_number(path, v, "gray_weights") for v in table["gray_weights"])
        if len(weights) != 3:
            _bad(path, "[input] gray_weights needs 3 values (R, G, B)")
        kwargs["gray_weights"] = weights
    if "pad_square" in table:
        if not isinstance(table["pad_square"], bool):
            _bad(path, "[input] pad_square must be true or false")
        kwargs["pad_square"] = table["pad_square"]
    return InputSpec(height=table["height"], width=table["width"], **kwargs)


def _number(path: Path, value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _bad(path, f"[input] {key} must be a number, got {value!r}")
    return float(value)


def _labels(path: Path, table: dict) -> tuple[str, ...]:
    raw = table.get("labels")
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        _bad(path, "[output] labels must be a non-empty list of names in output order")
    out = []
    for name in raw:
        mapped = canonical(name)
        if mapped is None:
            _bad(
                path, f"[output] label '{name}' is not an expression name ({', '.join(CANONICAL)})"
            )
        if mapped in out:
            _bad(path, f"[output] label '{name}' repeats '{mapped}'")
        out.append(mapped)
    return tuple(out)


def _kind(path: Path, table: dict) -> str:
    kind = table.get("kind", "probs")
    if kind not in ("probs", "logits"):
        _bad(path, f"[output] kind must be 'probs' or 'logits', got {kind!r}")
    return kind
