"""One generic registry for adapters, metrics, perturbations and detectors.

Entries are lazy ``"module:attr"`` strings so that `import emoaudit` stays fast; third-party
packages add entries through the ``emoaudit.<kind>`` entry-point group. Unknown names get a
did-you-mean suggestion, because a typo on the command line should not need the docs.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")

UNKNOWN_NAME = "unknown {kind} '{name}'; known: {known}"
DID_YOU_MEAN = " (did you mean '{guess}'?)"


class RegistryError(KeyError):
    """Raised for unknown or duplicate names; str() is a one-line message for the CLI."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Name -> object, where the object may be given as a lazy ``"module:attr"`` target."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._entry_points_loaded = False

    def add(self, name: str, target: T | str, **meta: Any) -> None:
        if name in self._entries and self._entries[name] is not target:
            raise RegistryError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = target
        self._meta[name] = meta

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return deco

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=f"emoaudit.{self.kind}"):
            self._entries.setdefault(ep.name, ep.value)
            self._meta.setdefault(ep.name, {})

    def get(self, name: str) -> T:
        self._load_entry_points()
        if name not in self._entries:
            known = sorted(self._entries)
            msg = UNKNOWN_NAME.format(kind=self.kind, name=name, known=", ".join(known))
            guess = difflib.get_close_matches(name, known, n=1)
            if guess:
                msg += DID_YOU_MEAN.format(guess=guess[0])
            raise RegistryError(msg)
        target = self._entries[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
            self._entries[name] = obj
            target = obj
        return target  # type: ignore[return-value]

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._meta.get(name, {}))

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
