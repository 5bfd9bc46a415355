"""Random interleavings of local edits, ignored files, web-editor edits, pulls and deploys
lose no content.

After every step: every edit made in Ganymede since the last pull is still there
unless a ``--force`` deploy overwrote it on purpose; every local edit that Ganymede
does not have is reported as to send or as a conflict; a conflict or "changed in
Ganymede" is only reported when Ganymede really changed (no false conflicts). A pull
keeps every local change (committed, uncommitted or git-ignored) that Ganymede did
not change, refuses exactly when one was changed on both sides, and a git-ignored
file is never lost nor sent.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from deploy_workspace import Workspace, make_workspace, start_emulator
from ganymede_sync.errors import DeployRefused, LocalChangesError
from ganymede_sync.plans.planning import SENT_STATUSES, Status

PATHS = (
    "Plate_Reader_Ingest/Map_Wells/function.py",
    "qPCR_Analysis/Delta_Ct/function.py",
    "lib/labtools/units.py",
    "lib/labtools/extra.py",
)
LIB_PATHS = tuple(path for path in PATHS if path.startswith("lib/"))
IGNORED = "lib/labtools/settings_local.py"


def test_no_edit_is_lost_without_force(tmp_path):
    emulator = start_emulator(tmp_path / "emulator")
    repositories = (tmp_path / f"repo{n}" for n in itertools.count())
    counter = itertools.count()

    class DeployMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ws: Workspace = make_workspace(next(repositories), emulator)
            (self.ws.root / ".gitignore").write_text("*_local.py\n")
            self.ws.commit("Ignore local settings")
            self.secret: bytes | None = None
            """Content of the git-ignored file, which nothing may ever lose or send."""
            self.base = self.ws.remote_files()
            """Ganymede's content at the last pull."""
            self.sent: dict[str, set[bytes]] = {}
            """Contents this clone deployed since the last pull (Ganymede's history has them)."""
            self.web_pending: dict[str, bytes | None] = {}
            """Path -> content (None: deleted) of web edits since the last pull."""
            self.edited: set[str] = set()
            """Paths edited locally since the last pull."""
            self.pulled = set(self.ws.remote_files())
            """Paths Ganymede had at the last pull."""

        def teardown(self) -> None:
            self.ws.close()

        @rule(path=st.sampled_from(PATHS), commit=st.booleans())
        def local_edit(self, path: str, commit: bool) -> None:
            self.ws.write(path, f"value = {next(counter)}  # local edit\n".encode())
            if commit:
                self.ws.commit(f"Edit {path}")
            self.edited.add(path)

        @rule()
        def ignored_edit(self) -> None:
            self.secret = f"PASSWORD = '{next(counter)}'\n".encode()
            self.ws.write(IGNORED, self.secret)

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
            before, remote = self.ws.local_files(), self.ws.remote_files()
            work = {
                path
                for path, data in before.items()
                if data != self.base.get(path) and data not in self.sent.get(path, ())
            }
            both = {path for path in work if remote.get(path) != self.base.get(path)}
            try:
                self.ws.pull()
            except LocalChangesError as error:
                assert both or "would remove" in str(error), f"refused without cause: {error}"
                assert self.ws.local_files() == before, "a refused pull changed files"
                return
            assert not both, f"pulled over changes made on both sides: {both}"
            after = self.ws.local_files()
            for path in work:
                assert after.get(path) == before[path], f"the pull lost local work in {path}"
            self.web_pending.clear()
            self.edited &= work
            self.pulled = set(remote)
            self.base, self.sent = remote, {}

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
                self.sent.setdefault(path, set()).add(local[path])
            for path in planned.paths(Status.OVERWRITE):
                self.web_pending.pop(path, None)  # overwritten on purpose (--force)

        @invariant()
        def no_edit_is_lost(self) -> None:
            remote = self.ws.remote_files()
            assert self.ws.read(IGNORED) == self.secret, "the git-ignored file was lost"
            assert IGNORED not in remote, "the git-ignored file was sent to Ganymede"
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
