"""The Python API: emoaudit.audit(...) with Python models, tidy frames, report, fast import."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emoaudit
from emoaudit.errors import EmoauditError, ModelError

N = 80


class Brightness:
    """A numpy model: the brighter the face, the happier. Counts the faces it scored."""

    labels = ("happy", "sad")

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, faces):
        self.calls += len(faces)
        m = np.array([f.mean() / 255.0 for f in faces])
        p = 1 / (1 + np.exp(-12 * (m - 0.5)))
        return np.stack([p, 1 - p], axis=1)


@pytest.fixture
def manifest(tmp_path) -> Path:
    """N pre-cropped faces: happy ones bright, sad ones dark; group B noisier (more errors)."""
    from PIL import Image

    rng = np.random.default_rng(3)
    root = tmp_path / "faces"
    root.mkdir()
    rows = []
    for i in range(N):
        label = "happy" if i % 2 == 0 else "sad"
        group = "A" if i % 4 < 2 else "B"
        base = 150 if label == "happy" else 105
        noise = 10 if group == "A" else 60
        img = np.clip(base + rng.normal(0, noise, (24, 24, 3)) + rng.normal(0, noise / 2), 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(root / f"f{i:03d}.png")
        rows.append({"path": f"f{i:03d}.png", "label": label, "group": group})
    path = root / "manifest.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _run(manifest, out, models, **kw):
    kw = {"groups": ["group"], "min_group_n": 10, "n_resamples": 50, "precropped": True} | kw
    return emoaudit.audit(manifest, models=models, out=out, **kw)


def test_import_is_light_and_the_api_is_lazy():
    code = (
        "import sys, emoaudit; heavy = {'pandas', 'onnxruntime', 'pyarrow', 'emoaudit.api'};"
        "print(sorted(heavy & set(sys.modules))); emoaudit.audit;"
        "print('emoaudit.api' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
    with pytest.raises(AttributeError):
        emoaudit.nothing_here  # noqa: B018


def test_a_numpy_model_gives_tidy_frames_and_a_report(tmp_path, manifest):
    model = Brightness()
    result = _run(manifest, tmp_path / "out", [model], conditions="brightness")
    pred = result.predictions
    assert len(pred) == N * pred.condition.nunique()  # every sample, every condition
    assert set(pred.condition) >= {"clean"} and pred.condition.nunique() > 1
    clean = pred[pred.condition == "clean"]
    assert (clean.status == "ok").all() and clean.model.unique().tolist() == ["Brightness"]
    acc = result.metrics.query("metric == 'accuracy' and condition == 'clean'")
    assert len(acc) == 1
    expected = (clean.pred == clean.label).mean()
    assert acc.value.iloc[0] == pytest.approx(expected)
    assert acc.ci_low.iloc[0] <= acc.value.iloc[0] <= acc.ci_high.iloc[0] and acc.n.iloc[0] == N
    by = result.by_group.query("metric == 'accuracy' and condition == 'clean'")
    assert sorted(by.group) == ["A", "B"] and by.group_n.tolist() == [N // 2, N // 2]
    got = dict(zip(by.group, by.value, strict=True))
    for g, rows in clean.groupby("attr_group"):
        assert got[g] == pytest.approx((rows.pred == rows.label).mean())
    assert got["A"] > got["B"]  # the noisy group is read worse, as built
    rob = result.robustness
    assert set(rob.family) == {"brightness"} and "flip_rate" in set(rob.metric)
    assert {"value", "ci_low", "ci_high", "n"} <= set(rob.columns)
    path = result.report()
    assert path == tmp_path / "out" / "report.html" and path.stat().st_size > 1000
    plain = path.stat().st_size
    assert result.report(examples=True).stat().st_size > plain  # example faces embedded
    assert (tmp_path / "out" / "results.json").exists()
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert info["models"][0]["source"]["cache"].startswith("off")
    assert "<table" in result._repr_html_()


def test_a_versioned_python_model_is_cached_an_unversioned_one_is_not(tmp_path, manifest):
    out = tmp_path / "out"
    first = Brightness()
    _run(manifest, out, [emoaudit.PythonModel(first, name="bright", version="1")])
    assert first.calls == N
    again = Brightness()
    _run(manifest, out, [emoaudit.PythonModel(again, name="bright", version="1")])
    assert again.calls == 0  # same name and version: every shard reused
    info = json.loads((out / "run.json").read_text())
    assert info["cache"]["shards_computed"] == 0
    bumped = Brightness()
    _run(manifest, out, [emoaudit.PythonModel(bumped, name="bright", version="2")])
    assert bumped.calls == N
    plain = Brightness()
    _run(manifest, out, plain)  # one model needs no list
    _run(manifest, out, [plain])
    assert plain.calls == 2 * N  # no version, no digest: never reused


def test_a_sklearn_model_next_to_a_numpy_one(tmp_path, manifest):
    from PIL import Image
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    faces = [np.asarray(Image.open(manifest.parent / f"f{i:03d}.png")) for i in range(N)]
    labels = ["happy" if i % 2 == 0 else "sad" for i in range(N)]
    flat = FunctionTransformer(
        lambda x: np.asarray(x, float).reshape(len(x), -1).mean(axis=1)[:, None]
    )
    clf = make_pipeline(flat, LogisticRegression()).fit(faces, labels)
    sk = emoaudit.PythonModel(clf, name="sk", version="1")
    result = _run(manifest, tmp_path / "out", [sk, Brightness()])
    assert set(result.predictions.model) == {"sk", "Brightness"}
    acc = result.metrics.query("metric == 'accuracy'").set_index("model").value
    assert acc["sk"] > 0.6 and acc["Brightness"] > 0.6


def test_bad_python_models_are_one_line_errors(tmp_path, manifest):
    class NoPredict:
        labels = ("happy",)

    with pytest.raises(ModelError, match="a Python model needs `labels`"):
        _run(manifest, tmp_path / "out", [NoPredict()])
    from emoaudit.run.audit import RAY_NEEDS_NAMES

    with pytest.raises(EmoauditError) as exc:
        _run(manifest, tmp_path / "out", [Brightness()], executor="ray")
    assert str(exc.value) == RAY_NEEDS_NAMES.format(name="Brightness")
    from emoaudit.run.audit import SAME_NAME

    with pytest.raises(EmoauditError) as exc:
        _run(manifest, tmp_path / "out", [Brightness(), Brightness()])
    assert str(exc.value) == SAME_NAME.format(name="Brightness")


def test_the_cli_goes_through_the_same_function(tmp_path, manifest, monkeypatch):
    from typer.testing import CliRunner

    import emoaudit.api
    from emoaudit.cli import app

    seen = {}
    real = emoaudit.api.audit

    def spy(data, models, **kw):
        seen.update(kw, models=models)
        return real(data, [Brightness()], **kw)

    monkeypatch.setattr(emoaudit.api, "audit", spy)
    result = CliRunner().invoke(app, ["audit", str(manifest), "--model", "x", "--out",
                                      str(tmp_path / "o"), "--precropped", "--resamples", "20",
                                      "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["models"] == ["x"] and seen["precropped"] is True and seen["n_resamples"] == 20
    assert (tmp_path / "o" / "report.html").exists()


def test_hostile_labels_are_checked_as_on_the_command_line(tmp_path):
    """hostile="anger" became the five letters, and ["banana"] was accepted."""
    from emoaudit.api import build_request
    from emoaudit.errors import EmoauditError

    def hostile(value):
        req = build_request(data=tmp_path, models=[], out=tmp_path / "o", hostile=value)
        return req.group_options["hostile"]

    assert hostile("anger") == ("anger",)
    assert hostile("Angry, disgust") == ("anger", "disgust")
    assert hostile(["contempt"]) == ("contempt",)
    with pytest.raises(EmoauditError, match="--hostile 'banana': not an expression label"):
        hostile(["banana"])


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"conditions": None}, "conditions: expected a string, e.g. 'clean'"),
        ({"groups": 5}, "groups: expected attribute names, e.g. 'gender,race'"),
        ({"groups": ["group", 5]}, "groups: expected attribute names"),
        ({"hostile": 5}, "hostile: expected expression labels"),
        ({"reference": "group=A"}, "reference: expected a dict of attribute -> group"),
        ({"given": 5}, "given: expected a label or attribute column name"),
        ({"format": None}, "format: expected a string, got None"),
        ({"detector": 3}, "detector: expected a string, got 3"),
        ({"executor": None}, "executor: expected a string, got None"),
        ({"precropped": "no"}, "precropped: expected True or False, got 'no'"),
        ({"wait": 1}, "wait: expected True or False, got 1"),
        ({"protocols": 3}, "protocols: expected a string"),
        ({"provenance_extra": 5}, "provenance_extra: expected a dict or None, got 5"),
        ({"model_spec": 5}, "model_spec: expected a TOML model spec file as a str or pathlib.Path"),
        ({"predictions": ""}, "predictions: got an empty path"),
        ({"model_name": 5}, "model_name: expected a string or None, got 5"),
        ({"seed": "1"}, "--seed: expected an integer >= 0, got 1"),
        ({"fps": 5}, "fps: frames per second are for format 'video'; "),
        ({"fps": float("nan")}, "fps: expected a number of frames per second > 0, got nan"),
        ({"out": ""}, "out: got an empty path; expected an output folder"),
        ({"out": 5}, "out: expected an output folder as a str or pathlib.Path, got 5"),
        ({"on_progress": 5}, "on_progress: expected a function or None, got 5"),
        ({"given": "smle"}, "--at-equal 'smle': neither an expression label nor an attribute of"),
        ({"given": "group"}, "--at-equal 'group': attribute has no numeric value in"),
    ],
)
def test_wrong_arguments_are_one_line_before_anything_runs(tmp_path, manifest, monkeypatch, kw,
                                                           says):  # fmt: skip
    """They were TypeErrors and AttributeErrors from deep inside (fps= reached a reader that has
    no such option; conditions=None met .strip()), some after the inference; a given= column
    that does not exist was ignored, and out="" wrote the audit into the current folder."""
    monkeypatch.chdir(tmp_path)
    model = Brightness()
    kw = {"out": tmp_path / "o"} | kw
    with pytest.raises(EmoauditError) as exc:
        _run(manifest, models=[model], **kw)
    message = str(exc.value)
    assert says in message and "\n" not in message, message
    assert model.calls == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"]  # nothing written


def test_a_data_path_must_be_a_path(tmp_path):
    with pytest.raises(EmoauditError, match="data: expected a dataset file or folder as a str"):
        emoaudit.audit(None, models=[Brightness()], out=tmp_path / "o")
    with pytest.raises(EmoauditError, match="data: got an empty path"):
        emoaudit.audit("", models=[Brightness()], out=tmp_path / "o")


def test_one_string_is_one_entry_and_lists_are_accepted(tmp_path):
    from emoaudit.api import build_request

    def req(**kw):
        return build_request(data=tmp_path, models=[], out=tmp_path / "o", **kw)

    assert req(groups="gender").groups == ["gender"]  # not ['g', 'e', 'n', ...]
    assert req(groups=("gender", "race,age")).groups == ["gender", "race", "age"]
    assert req(conditions=["jpeg", "blur"]).conditions == "jpeg,blur"
    assert req(conditions="standard").conditions == "standard"
    assert req(given="Happiness").group_options["given"] == "happy"  # as --at-equal reads it


def test_a_numeric_given_column_is_compared_at(tmp_path, manifest):
    import pandas as pd

    table = pd.read_csv(manifest)
    table["smile"] = [i % 5 for i in range(len(table))]
    table.to_csv(manifest, index=False)
    result = _run(manifest, tmp_path / "out", [Brightness()], given="smile")
    assert {r["label_free"]["given"] for r in result.results["results"]} == {"smile"}
    with pytest.raises(EmoauditError, match="examples: expected True or False"):
        result.report(examples="yes")
