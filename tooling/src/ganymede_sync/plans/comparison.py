"""Compare the managed files of two environment folders, byte for byte.

The model behind ``invoke diff`` and ``invoke promote``: which paths of a selection
(some flows, maybe ``lib/``) are the same, changed, or only in one folder, with the
bytes of those that differ. ``report`` renders a comparison; ``promote`` acts on it.

Never does: write, print, or ask git or Ganymede anything.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from ganymede_sync.rules.layout import flow_of, is_lib_path, scan_managed
from ganymede_sync.settings.config import Environment


class Difference(enum.Enum):
    """How one managed path compares between the source and the target folder."""

    SAME = "same"
    CHANGED = "changed"
    ONLY_SOURCE = "only in source"
    ONLY_TARGET = "only in target"


@dataclass(frozen=True)
class Selection:
    """Which managed paths a comparison or promotion covers: some flows, and maybe ``lib/``."""

    flows: frozenset[str] | None = None
    """None: every flow."""
    include_lib: bool = True

    def covers(self, path: str) -> bool:
        if is_lib_path(path):
            return self.include_lib
        return self.flows is None or flow_of(path) in self.flows


@dataclass(frozen=True)
class Comparison:
    """Every managed path of the selection in either folder, sorted, with its difference."""

    source: str
    target: str
    entries: tuple[tuple[str, Difference], ...]
    contents: Mapping[str, tuple[bytes | None, bytes | None]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Source and target bytes of every path that differs (None: absent on that side)."""

    def paths(self, *kinds: Difference) -> list[str]:
        return [path for path, kind in self.entries if kind in kinds]

    @property
    def differs(self) -> bool:
        return any(kind is not Difference.SAME for _, kind in self.entries)

    def where(self, kind: Difference) -> str:
        """Say ``changed``, ``only in dev/`` ... for people."""
        if kind is Difference.ONLY_SOURCE:
            return f"only in {self.source}/"
        if kind is Difference.ONLY_TARGET:
            return f"only in {self.target}/"
        return kind.value


def compare(source: Environment, target: Environment, selection: Selection) -> Comparison:
    """Compare the managed files of two folders byte for byte (flow code is small)."""
    theirs = {p: f for p, f in scan_managed(source.path).items() if selection.covers(p)}
    ours = {p: f for p, f in scan_managed(target.path).items() if selection.covers(p)}
    entries = []
    contents: dict[str, tuple[bytes | None, bytes | None]] = {}
    for path in sorted(set(theirs) | set(ours)):
        new = theirs[path].read_bytes() if path in theirs else None
        old = ours[path].read_bytes() if path in ours else None
        kind = _difference(new, old)
        entries.append((path, kind))
        if kind is not Difference.SAME:
            contents[path] = (new, old)
    return Comparison(source.folder, target.folder, tuple(entries), contents)


def _difference(new: bytes | None, old: bytes | None) -> Difference:
    if new == old:
        return Difference.SAME
    if new is None:
        return Difference.ONLY_TARGET
    return Difference.ONLY_SOURCE if old is None else Difference.CHANGED
