"""Random interleavings of local edits, web-editor edits, pulls and deploys lose no edit.

After every step: every edit made in Ganymede since the last pull is still there
unless a ``--force`` deploy overwrote it on purpose; every local edit that Ganymede
does not have is reported as to send or as a conflict; a conflict or "changed in
Ganymede" is only reported when Ganymede really changed (no false conflicts).
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from deploy_workspace import Workspace, make_workspace, start_emulator
from ganymede_sync.deploy import SENT_STATUSES, Status
from ganymede_sync.errors import DeployRefused

PATHS = (
    "Plate_Reader_Ingest/Map_Wells/function.py",
    "qPCR_Analysis/Delta_Ct/function.py",
    "lib/labtools/units.py",
    "lib/labtools/extra.py",
)
LIB_PATHS = tuple(path for path in PATHS if path.startswith("lib/"))


def test_no_edit_is_lost_without_force(tmp_path):
    emulator = start_emulator(tmp_path / "emulator")
    repositories = (tmp_path / f"repo{n}" for n in itertools.count())
    counter = itertools.count()

    class DeployMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ws: Workspace = make_workspace(next(repositories), emulator)
            self.web_pending: dict[str, bytes | None] = {}
            """Path -> content (None: deleted) of web edits since the last pull."""
            self.edited: set[str] = set()
            """Paths edited locally since the last pull."""
            self.pulled = set(self.ws.remote_files())
            """Paths Ganymede had at the last pull."""

        def teardown(self) -> None:
            self.ws.close()

        @rule(path=st.sampled_from(PATHS))
        def local_edit(self, path: str) -> None:
            self.ws.write(path, f"value = {next(counter)}  # local edit\n".encode())
            self.ws.commit(f"Edit {path}")
            self.edited.add(path)

        @rule(path=st.sampled_from(PATHS))
        def web_edit(self, path: str) -> None:
            content = f"value = {next(counter)}  # web edit\n".encode()
            self.ws.web_edit(path, content)
            self.web_pending[path] = content

        @rule(path=st.sampled_from(LIB_PATHS))
        def web_delete(self, path: str) -> None:
            if path in self.ws.remote_files():
                self.ws.web_edit(path, None)
                if path in self.pulled:
                    self.web_pending[path] = None
                else:  # created and deleted in Ganymede since the pull: no change left
                    self.web_pending.pop(path, None)

        @rule()
        def pull(self) -> None:
            self.ws.pull()
            self.web_pending.clear()
            self.edited.clear()
            self.pulled = set(self.ws.remote_files())

        @rule(force=st.booleans())
        def deploy(self, force: bool) -> None:
            before = self.ws.remote_files()
            planned = self.ws.plan(force=force)
            try:
                outcome = self.ws.deploy(force=force)
            except DeployRefused:
                assert planned.refused or planned.to_send
                assert self.ws.remote_files() == before, "a refused deploy changed Ganymede"
                return
            remote, local = self.ws.remote_files(), self.ws.local_files()
            for path in outcome.sent:
                assert remote[path] == local[path]
            for path in planned.paths(Status.OVERWRITE):
                self.web_pending.pop(path, None)  # overwritten on purpose (--force)

        @invariant()
        def no_edit_is_lost(self) -> None:
            remote = self.ws.remote_files()
            for path, content in self.web_pending.items():
                assert remote.get(path) == content, f"web edit of {path} was lost"
            statuses = {entry.path: entry.status for entry in self.ws.plan().entries}
            local = self.ws.local_files()
            for path, status in statuses.items():
                if status in SENT_STATUSES:
                    assert path not in self.web_pending, f"{path} would overwrite a web edit"
                if status in (Status.CONFLICT, Status.REMOTE_AHEAD):
                    assert path in self.web_pending, f"false {status.name} on {path}"
            for path in self.edited & set(local):
                if local[path] != remote.get(path):
                    assert statuses[path] not in (Status.UNCHANGED, Status.REMOTE_AHEAD), path

    DeployMachine.TestCase.settings = settings(
        max_examples=10,
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    try:
        run_state_machine_as_test(DeployMachine, settings=DeployMachine.TestCase.settings)
    finally:
        emulator.stop()
