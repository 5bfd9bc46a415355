"""Make every byte a reader is shown visible: the one sanitiser for all output.

File names and contents come from users and from Ganymede. Printed raw, a name such
as ``evil\\x1b]0;x\\x07\\x1b[2J.py`` or a line ending in ``\\x1b[1A\\x1b[2K`` rewrites the
terminal, and a right-to-left override (U+202E) reorders what a reviewer reads, so a
line of a diff can be hidden or disguised. Every line that reaches a terminal, a step
summary or a pull request body passes through ``visible``: C0 and C1 controls (but
newline and tab), DEL, and the Unicode bidi and invisible format characters are shown
as Python escapes (``\\x1b``, ``\\u202e``). Text without any is returned unchanged.
"""

from __future__ import annotations

import re

_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but tab and newline, DEL, C1
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)


def has_hidden(text: str) -> bool:
    """Tell whether ``text`` holds a character ``visible`` would escape."""
    return _HIDDEN.search(text) is not None


def visible(text: str) -> str:
    """Return ``text`` with each hidden or terminal-controlling character escaped."""
    return _HIDDEN.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
