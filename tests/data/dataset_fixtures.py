"""Generators that write tiny datasets in each format's exact on-disk layout.

Images are real files written by PIL with deterministic content (a seeded pattern per image,
so a test can tell which image ended up in which sample). Nothing here is third-party data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def pattern(seed: int, size: tuple[int, int] = (48, 48)) -> np.ndarray:
    """A deterministic gray image (H, W) whose pixels identify `seed`."""
    return np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0]), dtype=np.uint8)


def write_image(
    path: Path, seed: int, *, size: tuple[int, int] = (48, 48), mode: str = "L"
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gray = pattern(seed, size)
    image = Image.fromarray(gray)
    if mode != "L":
        image = image.convert(mode)
    image.save(path)
    return path


def pixels_text(seed: int) -> str:
    return " ".join(str(int(v)) for v in pattern(seed).ravel())


# --- FER2013 csv -----------------------------------------------------------------------------


# (emotion code, pixel string, Usage): rows 3-6 are the bad-input cases.
def fer2013_rows() -> list[tuple[str, str, str]]:
    return [
        ("0", pixels_text(0), "Training"),
        ("6", pixels_text(1), "PublicTest"),
        ("3", pixels_text(2), "PrivateTest"),
        ("7", pixels_text(3), "Training"),  # unknown code
        ("2", " ".join(pixels_text(4).split()[:-1]), "Training"),  # 2303 values
        ("4", pixels_text(5).replace(" ", " x", 1), "Training"),  # non-integer value
        ("5", "256 " + " ".join(pixels_text(6).split()[1:]), "Training"),  # out of range
    ]


def write_fer2013(
    folder: Path, rows: list[tuple[str, str, str]] | None = None, *, name: str = "fer2013.csv"
) -> Path:
    """Kaggle layout: header `emotion,pixels,Usage`, unquoted space-separated pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        for code, pixels, usage in fer2013_rows() if rows is None else rows:
            writer.writerow([code, pixels, usage])
    return path


def write_icml_face_data(folder: Path) -> Path:
    """The other Kaggle file: columns `emotion, Usage, pixels` with a space before the names."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "icml_face_data.csv"
    with open(path, "w", newline="") as fh:
        fh.write("emotion, Usage, pixels\n")
        for code, pixels, usage in fer2013_rows()[:3]:
            fh.write(f"{code},{usage},{pixels}\n")
    return path


# --- FER2013 folders -------------------------------------------------------------------------

FER_FOLDER_FILES = {
    # relative path -> seed
    "train/angry/Training_10.jpg": 10,
    "train/neutral/Training_11.jpg": 11,
    "train/surprise/Training_16.jpg": 16,
    "test/sad/PublicTest_12.jpg": 12,
    "test/neutral/PrivateTest_14.jpg": 14,
    "test/surprise/PrivateTest_13.jpg": 13,
    "test/happy/im15.jpg": 15,  # no prefix: split falls back to the parent folder
}


def write_fer2013_folders(root: Path) -> Path:
    for rel, seed in FER_FOLDER_FILES.items():
        write_image(root / rel, seed)
    return root


# --- FER+ ------------------------------------------------------------------------------------

FERPLUS_HEADER = (
    "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
)
# One FER+ line per fer2013 row, same order; comments say what the label rule must give.
FERPLUS_LINES = [
    "Training,fer0000000.png,4,0,0,1,3,2,0,0,0,0",  # neutral (4 > 3)
    "Training,fer0000001.png,0,10,0,0,0,0,0,0,0,0",  # happy, unanimous
    "Training,,0,0,0,0,0,0,0,0,0,10",  # empty name, NF=10: not a face
    "Training,fer0000002.png,5,0,5,0,0,0,0,0,0,0",  # tie neutral/surprise
    "PublicTest,fer0000003.png,1,0,0,2,0,0,0,0,4,3",  # unknown has the most votes
    "PrivateTest,fer0000004.png,0,0,0,0,0,3,0,7,0,0",  # contempt
]
# fer2013 rows for the same images: original codes chosen so agreement can be checked.
FERPLUS_FER_CODES = ["6", "3", "0", "5", "4", "1"]
FERPLUS_USAGES = ["Training", "Training", "Training", "Training", "PublicTest", "PrivateTest"]


def write_ferplus(folder: Path, *, lines: list[str] | None = None, fer_rows: int | None = None):
    """fer2013.csv (row k has pattern(100 + k)) and fer2013new.csv side by side."""
    count = len(FERPLUS_FER_CODES) if fer_rows is None else fer_rows
    rows = [
        (FERPLUS_FER_CODES[k % 6], pixels_text(100 + k), FERPLUS_USAGES[k % 6])
        for k in range(count)
    ]
    write_fer2013(folder, rows)
    path = folder / "fer2013new.csv"
    path.write_text(
        "\n".join([FERPLUS_HEADER, *(FERPLUS_LINES if lines is None else lines)]) + "\n"
    )
    return folder


def write_ferplus_folders(root: Path, *, face_box: bool = False) -> Path:
    """generate_training_data.py output: FER2013Train/label.csv (no header) plus PNGs.

    face_box=True writes label.csv as committed in microsoft/FERPlus data/: 12 fields, the
    second a quoted face box "(0, 0, 48, 48)".
    """
    train = root / "FER2013Train"
    write_image(train / "fer0000000.png", 200)
    write_image(train / "fer0000001.png", 201)
    box = '"(0, 0, 48, 48)",' if face_box else ""
    (train / "label.csv").write_text(
        f"fer0000000.png,{box}4,0,0,1,3,2,0,0,0,0\n"
        f"fer0000001.png,{box}0,10,0,0,0,0,0,0,0,0\n"
        f"fer0000009.png,{box}0,10,0,0,0,0,0,0,0,0\n"  # image missing
    )
    return root


def write_ferplus_named(root: Path) -> Path:
    """fer2013new.csv plus the PNG folders generate_training_data.py writes, no fer2013.csv.

    PNG names follow FERPLUS_LINES (a counter that skips the row with no Image name, so row k
    is NOT fer000000k.png from row 3 on); each PNG has pattern(300 + row) so a join by row index
    instead of by name would show. The row with an empty name has no PNG, as in the real tool.
    """
    for k, line in enumerate(FERPLUS_LINES):
        usage, name = line.split(",")[:2]
        if name:
            write_image(root / FERPLUS_FOLDERS[usage] / name, 300 + k)
    (root / "fer2013new.csv").write_text("\n".join([FERPLUS_HEADER, *FERPLUS_LINES]) + "\n")
    return root


FERPLUS_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid",
                   "PrivateTest": "FER2013Test"}  # fmt: skip


# --- RAF-DB ----------------------------------------------------------------------------------

RAFDB_LIST = [
    "train_00001.jpg 5",  # sadness, aligned, attributes
    "train_00002.jpg 7",  # neutral, aligned, no attribute file
    "test_0001.jpg 1",  # surprise, aligned, attributes
    "test_0002.jpg 9",  # unknown code
    "train_00003.jpg 4",  # happiness, only the original image exists
    "train_00004.jpg 2",  # fear, no image at all
    "garbage",  # malformed line
]


def _attribute_file(gender: int, race: int, age: int) -> str:
    landmarks = "\n".join(f"{10.5 + i}\t{20.25 + i}" for i in range(5))
    return f"{landmarks}\n{gender}\n{race}\n{age}\n"


def write_rafdb(root: Path) -> Path:
    """`root/basic/...` as the RAF-DB archive unpacks."""
    basic = root / "basic"
    (basic / "EmoLabel").mkdir(parents=True)
    (basic / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(RAFDB_LIST) + "\n")
    for seed, stem in enumerate(("train_00001", "train_00002", "test_0001", "test_0002")):
        write_image(
            basic / "Image" / "aligned" / f"{stem}_aligned.jpg", 300 + seed, size=(100, 100)
        )
    write_image(basic / "Image" / "original" / "train_00003.jpg", 310, size=(120, 90), mode="RGB")
    manual = basic / "Annotation" / "manual"
    manual.mkdir(parents=True)
    (manual / "train_00001_manu_attri.txt").write_text(_attribute_file(1, 2, 2))
    (manual / "test_0001_manu_attri.txt").write_text(_attribute_file(0, 1, 4))
    (manual / "train_00003_manu_attri.txt").write_text(_attribute_file(2, 0, 0))
    return root


# --- AffectNet -------------------------------------------------------------------------------

AFFECTNET_HEADER = [
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
    "facial_landmarks", "expression", "valence", "arousal",
]  # fmt: skip
AFFECTNET_TRAIN = [
    ["689/a1.jpg", "10", "12", "60", "62", "20.1;30.2;40.3;50.4", "1", "0.5", "-2"],
    ["689/a2.jpg", "0", "0", "80", "80", "1;2;3;4", "8", "-2", "-2"],  # none
    ["12/b1.png", "5", "6", "40", "41", "1;2;3;4", "12", "0.1", "0.2"],  # bad code
    ["12/missing.jpg", "5", "6", "40", "41", "1;2;3;4", "6", "-0.75", "0.8"],  # no file
]
AFFECTNET_VALID = [["7/c1.jpg", "1", "2", "30", "30", "1;2;3;4", "7", "-0.25", "0.25"]]


def write_affectnet(root: Path) -> Path:
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    for name, rows in (("training.csv", AFFECTNET_TRAIN), ("validation.csv", AFFECTNET_VALID)):
        with open(lists / name, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(AFFECTNET_HEADER)
            writer.writerows(rows)
    images = root / "Manually_Annotated" / "Manually_Annotated_Images"
    for seed, rel in enumerate(("689/a1.jpg", "689/a2.jpg", "12/b1.png", "7/c1.jpg")):
        write_image(images / rel, 400 + seed, size=(100, 100), mode="RGB")
    return root


def write_affectnet_sets(root: Path) -> Path:
    """The later release: train_set/images/<n>.jpg with annotations/<n>_exp.npy etc."""
    for set_name, items in (
        ("train_set", [("0", "3", "0.2", "-0.1")]),
        ("val_set", [("5", "9", "0", "0")]),
    ):
        for stem, code, valence, arousal in items:
            write_image(root / set_name / "images" / f"{stem}.jpg", 500 + int(stem), mode="RGB")
            ann = root / set_name / "annotations"
            ann.mkdir(parents=True, exist_ok=True)
            np.save(ann / f"{stem}_exp.npy", np.array(code))
            np.save(ann / f"{stem}_val.npy", np.array(valence))
            np.save(ann / f"{stem}_aro.npy", np.array(arousal))
    write_image(root / "train_set" / "images" / "1.jpg", 510, mode="RGB")  # no annotation
    return root


# --- CK+ -------------------------------------------------------------------------------------


def write_ckplus(root: Path) -> Path:
    """S005/001 labelled disgust, S005/002 unlabelled, S010/001 surprise, S011/001 bad file."""
    images = root / "cohn-kanade-images"
    emotion = root / "Emotion"
    for subject, seq, frames in (("S005", "001", 3), ("S005", "002", 2), ("S010", "001", 4),
                                 ("S011", "001", 2)):  # fmt: skip
        for frame in range(1, frames + 1):
            name = f"{subject}_{seq}_{frame:08d}.png"
            write_image(images / subject / seq / name, frame, size=(64, 48))
    (emotion / "S005" / "001").mkdir(parents=True)
    (emotion / "S005" / "001" / "S005_001_00000003_emotion.txt").write_text("   3.0000000e+00\n")
    (emotion / "S010" / "001").mkdir(parents=True)
    (emotion / "S010" / "001" / "S010_001_00000004_emotion.txt").write_text("   7.0000000e+00\n")
    (emotion / "S011" / "001").mkdir(parents=True)
    (emotion / "S011" / "001" / "S011_001_00000002_emotion.txt").write_text("   9.0000000e+00\n")
    (images / "S005" / "002" / ".DS_Store").write_text("junk")
    return root


CKPLUS48_FILES = {
    "anger/S010_004_00000017.png": 1,
    "contempt/S138_008_00000007.png": 2,
    "happy/S010_006_00000013.png": 3,
    "sadness/S011_002_00000020.png": 4,
    "surprise/S022_001_00000030.png": 5,
}


def write_ckplus48(root: Path) -> Path:
    for rel, seed in CKPLUS48_FILES.items():
        write_image(root / rel, seed)
    return root


# --- JAFFE -----------------------------------------------------------------------------------


def palette_tiff(path: Path, seed: int) -> np.ndarray:
    """A palette ('P') TIFF whose palette maps index i to (255 - i, i, i // 2): reading the
    indices as gray would give the wrong pixels. Returns the expected RGB."""
    indices = pattern(seed, (256, 256))
    palette = []
    for i in range(256):
        palette += [255 - i, i, i // 2]
    image = Image.frombytes("P", (256, 256), indices.tobytes())
    image.putpalette(palette)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    lut = np.array(palette, dtype=np.uint8).reshape(256, 3)
    return lut[indices]


def write_jaffe(root: Path) -> dict[str, np.ndarray]:
    expected = {"KA.HA1.29.tiff": palette_tiff(root / "KA.HA1.29.tiff", 29)}
    write_image(root / "KM.SU2.15.tiff", 15, size=(256, 256))
    write_image(root / "NA.NE1.202.tiff", 202, size=(256, 256))
    write_image(root / "YM.XX1.60.tiff", 60, size=(256, 256))  # not an expression code
    (root / "README").write_text("The JAFFE images may be used only for non-commercial research")
    return expected


# --- generic folders and manifest ------------------------------------------------------------

FOLDERS_FILES = {
    "Happy/a.png": 1,
    "happiness/b.jpg": 2,
    "angry/c.png": 3,
    "sadness/d.png": 4,
    "confused/e.png": 5,  # not an expression: unmapped, kept
}


def write_folders(root: Path, *, split: str | None = None) -> Path:
    base = root / split if split else root
    for rel, seed in FOLDERS_FILES.items():
        write_image(base / rel, seed)
    (base / "Happy" / "notes.txt").write_text("not an image")
    return root


MANIFEST_ROWS = [
    # path, label, subject_id, split, age_group, target_valence
    ["img/a.png", "happy", "p1", "test", "20-39", "0.5"],
    ["img/b.png", "Sadness", "p2", "test", "40-69", ""],
    ["img/c.png", "bored", "p2", "train", "", "0.1"],  # unknown label
    ["img/missing.png", "anger", "p3", "test", "70+", ""],  # no such image
    ["img/d.png", "unknown", "", "", "20-39", ""],  # recognised non-expression
]
MANIFEST_HEADER = ["path", "label", "subject_id", "split", "age_group", "target_valence"]


def write_manifest_csv(root: Path) -> Path:
    for seed, name in enumerate("abcd"):
        write_image(root / "img" / f"{name}.png", 600 + seed)
    path = root / "labels.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(MANIFEST_HEADER)
        writer.writerows(MANIFEST_ROWS)
    return path


def write_manifest_parquet(root: Path, *, rows: int, row_group_size: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_image(root / "img.png", 1)
    labels = np.array(["happy", "sad", "neutral", "fear"])[np.arange(rows) % 4]
    table = pa.table(
        {
            "path": pa.array(["img.png"] * rows),
            "label": pa.array(labels.tolist()),
            "sample_id": pa.array([f"s{i}" for i in range(rows)]),
            "site": pa.array([f"site{i % 3}" for i in range(rows)]),
        }
    )
    path = root / "big.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    return path
