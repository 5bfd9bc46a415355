"""The SDK calls a local test can observe but not perform: file tags and e-mails.

Ganymede's documentation gives these calls a plain meaning (tag a file, send an
e-mail) that needs Ganymede itself to happen. Locally they are recorded on the run
instead, so a test asserts what a node *would* have done:
``context.recorded.file_tags`` and ``context.recorded.emails``. Ganymede's own
notebooks send no e-mail while testing either.

Names of the documented surface that have no such meaning here (signed storage URLs,
schema validation against Ganymede's tables, triggering other flows, Benchling) are
still importable, so a node that holds them imports and its other code is tested;
they fail only when called, with ``NotEmulatedError`` naming them.
"""

from __future__ import annotations

from typing import Any

from ganymede_sync.errors import NotEmulatedError
from ganymede_sync.testing import standin
from ganymede_sync.testing.standin import Email, FileTag, Recorded


def _run() -> Recorded:
    """The record of the latest run: module-level SDK functions take no context."""
    context = standin.current_context() or standin.make_context()
    return context.data.recorded


# --- ganymede_sdk.file_tag --------------------------------------------------------
def add_file_tag(
    input_file_path: str,
    tag_type_id: str,
    display_value: str,
    tag_id: str | None = None,
    url: str | None = None,
    bucket: str | None = None,
) -> None:
    """Record the tag on the latest run (``recorded.file_tags``)."""
    tag = FileTag(input_file_path, tag_type_id, display_value, tag_id, url, bucket)
    _run().file_tags.append(tag)


def upsert_file_tag(
    input_file_path: str,
    tag_type_id: str,
    display_value: str,
    tag_id: str | None = None,
    url: str | None = None,
    bucket: str | None = None,
) -> None:
    """Replace the file's recorded tag of this type (and id), or record a new one."""
    delete_specific_file_tag(input_file_path, tag_type_id, tag_id)
    add_file_tag(input_file_path, tag_type_id, display_value, tag_id, url, bucket)


def get_file_tags(input_file_path: str, bucket: str | None = None) -> list[FileTag]:
    """Return the tags recorded for the file in this run (Ganymede's earlier tags are unknown)."""
    return [tag for tag in _run().file_tags if tag.input_file_path == input_file_path]


def delete_file_tag(input_file_path: str, tag_type_id: str, bucket: str | None = None) -> None:
    """Forget the file's recorded tags of this type."""
    _forget(input_file_path, tag_type_id, None)


def delete_specific_file_tag(
    input_file_path: str, tag_type_id: str, tag_id: str | None = None, bucket: str | None = None
) -> None:
    """Forget the file's recorded tag of this type and id."""
    _forget(input_file_path, tag_type_id, tag_id)


def _forget(path: str, tag_type_id: str, tag_id: str | None) -> None:
    def matches(tag: FileTag) -> bool:
        same = tag.input_file_path == path and tag.tag_type_id == tag_type_id
        return same and (tag_id is None or tag.tag_id == tag_id)

    tags = _run().file_tags
    tags[:] = [tag for tag in tags if not matches(tag)]


# --- ganymede_sdk.util.email ------------------------------------------------------
class GanymedeEmailAlert:
    """Stand-in for ``ganymede_sdk.util.email.GanymedeEmailAlert``: records, never sends."""

    def __init__(self, ganymede_context: Any = None, html_template: str | None = None) -> None:
        self.ganymede_context = ganymede_context
        self.html_template = html_template

    def send_email(
        self,
        to: Any,
        subject: str,
        message: str,
        cc: Any = None,
        bcc: Any = None,
        custom_headers: Any = None,
    ) -> str:
        """Record the e-mail on the run (``recorded.emails``) and return its HTML body."""
        context = self.ganymede_context
        record = context.data.recorded if isinstance(context, standin.GanymedeContext) else _run()
        record.emails.append(Email(to, subject, message, cc, bcc))
        return f"<html><body><h3>{subject}</h3><p>{message}</p></body></html>"


# --- refused when called ----------------------------------------------------------
def refused_when_called(qualified: str, hint: str = "") -> type:
    """A class standing for ``qualified``: importable, subclassable, refused when called.

    A class rather than a function, so ``class MyAlert(Benchling)`` at import time and
    type annotations work as with the real name; only using it raises.
    """

    def refuse(cls: type, *args: Any, **kwargs: Any) -> Any:
        raise NotEmulatedError(qualified, hint)

    name = qualified.rsplit(".", 1)[-1]
    return type(name, (), {"__new__": refuse, "__doc__": f"Not emulated: {qualified}."})
