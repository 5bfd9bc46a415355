"""The one naming rule for flow code paths, applied in both directions.

A pull refuses to write a path that a checkout on some system cannot hold, and
``invoke check`` and deploy refuse to send one, from this same rule: a deploy can
never put into Ganymede what a later pull would refuse. A path breaks the rule
when a segment holds a control character (``\\r``, tab...) or a character Windows
forbids, ends with a space or dot, is a name Windows reserves (``con``, ``aux.py``),
or is longer than 255 bytes; and when two paths, or two folders on their way, differ
only by letter case or Unicode normalisation (NFC/NFD): macOS and Windows fold
them into one file.

Pure: strings in, reasons out; never touches files, git or the network.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

MAX_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"{kind}{number}" for kind in ("com", "lpt") for number in range(1, 10)]
)


def segment_problem(segment: str) -> str | None:
    """Say why one path segment cannot be a file or folder name everywhere, or None."""
    if _CONTROL.search(segment):
        return "holds a control character"
    if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        return f"has a name over {MAX_SEGMENT_BYTES} bytes"
    if _WINDOWS_FORBIDDEN.search(segment):
        return 'holds a character Windows forbids (< > : " | ? *)'
    if segment.endswith((" ", ".")):
        return "has a name ending with a space or dot"
    if segment.split(".", 1)[0].rstrip(" ").casefold() in _WINDOWS_RESERVED:
        return "has a name Windows reserves for a device"
    return None


def path_problem(path: str) -> str | None:
    """Say why ``path`` (POSIX, relative) breaks the rule on its own, or None."""
    for segment in path.split("/"):
        problem = segment_problem(segment)
        if problem:
            return problem
    return None


def folded(path: str) -> str:
    """Return the form in which paths that one file system could confuse are equal."""
    if path.isascii():
        return path.casefold()  # NFC leaves ASCII as it is; most paths are
    return unicodedata.normalize("NFC", path).casefold()


def name_problems(paths: Iterable[str]) -> dict[str, str]:
    """Return path -> reason for every path that breaks the rule, alone or with another.

    Twins are reported on each side, naming the other, so whoever fixes them can
    choose which one to rename. Each distinct segment and folder is judged once:
    environments hold tens of thousands of paths over far fewer folders.
    """
    paths = sorted(set(paths))
    segments = {segment for path in paths for segment in path.split("/")}
    bad = {segment: problem for segment in segments if (problem := segment_problem(segment))}
    problems = {}
    for path in paths:
        found = next((bad[part] for part in path.split("/") if part in bad), None) if bad else None
        if found:
            problems[path] = found
    twins = _twins({prefix for path in paths for prefix in _prefixes(path)})
    for path in paths:
        if path in problems or not twins:
            continue
        other = next((twins[prefix] for prefix in _prefixes(path) if prefix in twins), None)
        if other:
            problems[path] = f"differs from {show(other)} only by letter case or Unicode form"
    return problems


def _prefixes(path: str) -> Iterator[str]:
    """Yield ``a``, ``a/b``, ``a/b/c.py`` for ``a/b/c.py``."""
    start = 0
    while (slash := path.find("/", start)) != -1:
        yield path[:slash]
        start = slash + 1
    yield path


def _twins(names: set[str]) -> dict[str, str]:
    """Return name -> another name it folds into, for every name that has one."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(folded(name), []).append(name)
    twins = {}
    for group in groups.values():
        if len(group) > 1:
            group.sort()
            for name in group:
                twins[name] = next(other for other in group if other != name)
    return twins


def printable(name: str) -> str:
    """Return ``name`` as is, or escaped when it holds control characters."""
    return ascii(name) if _CONTROL.search(name) else name


def show(name: str) -> str:
    """Quote a name on one line, whatever characters it holds."""
    shown = ascii(name) if _CONTROL.search(name) else f"'{name}'"
    return shown if len(shown) <= 160 else shown[:157] + "..."


def listing(folder: str, problems: dict[str, str]) -> str:
    """Return ``'dev/a' (reason); ...`` for messages, every path on the same line."""
    return "; ".join(f"{show(f'{folder}/{path}')} {reason}" for path, reason in problems.items())
