"""Dataset adapters, one module per format, looked up by name through DATASETS."""

from __future__ import annotations

from emoaudit.registry import Registry

DATASETS: Registry = Registry("datasets")

# Lazy targets: importing emoaudit.data loads no adapter (and no pyarrow) until one is used.
# Each target is a module that follows emoaudit.data.base.DatasetAdapter.
for _name, _module in (
    ("fer2013", "fer2013"),
    ("fer2013-folders", "fer2013_folders"),
    ("ferplus", "ferplus"),
    ("rafdb", "rafdb"),
    ("affectnet", "affectnet"),
    ("ckplus", "ckplus"),
    ("ckplus48", "ckplus48"),
    ("jaffe", "jaffe"),
    ("folders", "folders"),
    ("manifest", "manifest"),
    ("utkface", "utkface"),  # demographic face sets without expression labels: label-free
    ("fairface", "fairface"),
    ("images", "image_folder"),
    ("video", "video"),  # needs the optional PyAV extra; imported only when used
):
    DATASETS.add(_name, f"emoaudit.data.{_module}")
del _name, _module
