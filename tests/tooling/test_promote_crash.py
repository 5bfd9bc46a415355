"""A promotion killed at any moment leaves its target entirely old or entirely new.

Each trial promotes a flow grown in dev/ (an edited node, a new node, its flow file)
to prod/ in a child process that ends abruptly at a point of the write, as ``kill -9``
would (the child replaces ``local.apply.checkpoint`` with one that exits: no clean-up
runs): at a named point chosen in turn, or after a random number of renames. Then the
next task, run as a user runs it, must leave prod/ exactly as before or exactly as
promoted, with no staging folder behind.
"""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path

from test_promote import git, repo  # noqa: F401 - the fixture of dev/ and prod/ pulled
from test_pull_crash import crash_at_nth

from ganymede_sync.local import apply as apply_module
from ganymede_sync.runners.promote import prepare_promotion, run_promotion
from ganymede_sync.settings.config import load_settings
from task_runner import run_task as run
from tests.tooling.pull_helpers import API_KEY, REPOSITORY

FLOW = "LIMS_Sample_Sync"
POINTS = ("staged", "journal", "move:1", "move:2", "move:3", "committed", "cleaned")
RANDOM_KILLS = 5
FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(["ganymede_sync.runners.promote"])


def promote_in_child(root: str, url: str, crash_at: str) -> None:
    """The child's whole life: one promotion of FLOW from dev to prod, as the task runs it."""
    apply_module.checkpoint = crash_at_nth(crash_at)
    settings = load_settings(Path(root), {"GANYMEDE_API_URL": url, "GANYMEDE_API_TOKEN": API_KEY})
    promotion = prepare_promotion(settings, "dev", "prod", [FLOW])
    run_promotion(settings, promotion, lambda text: None)


def grow_dev(lab) -> None:
    """Edit a node of FLOW in dev/, add a node to it (flow file and code), and commit."""
    lab.append(f"dev/{FLOW}/Map_Fields/function.py", "# tuned in dev\n")
    flow_file = lab.root / "dev" / FLOW / "flow.json"
    added = '"Added": {"operator": "Python"}, "Map_Fields": {'
    text = flow_file.read_text(encoding="utf-8").replace('"Map_Fields": {', added, 1)
    flow_file.write_text(text, encoding="utf-8")
    lab.write(f"dev/{FLOW}/Added/function.py", b"def execute():\n    return 1\n")
    lab.commit("Grow the flow in dev")


def test_a_killed_promotion_leaves_the_target_old_or_new_after_the_next_task(repo, capsys):  # noqa: F811
    grow_dev(repo)
    old = repo.files("prod")
    new = {p: d for p, d in old.items() if not p.startswith(f"{FLOW}/")}
    new.update({p: d for p, d in repo.files("dev").items() if p.startswith(f"{FLOW}/")})
    assert new != old
    chooser = random.Random(20261204)  # noqa: S311 - picks kill points, nothing secret
    # Five renames: two files moved aside, two staged files and one new node folder in.
    trials = [*POINTS, *(f"move:{chooser.randint(1, 5)}" for _ in range(RANDOM_KILLS))]
    seen = {"old": 0, "new": 0}
    for crash_at in trials:
        child = FORKS.Process(
            target=promote_in_child, args=(str(repo.root), repo.emu.url, crash_at)
        )
        child.start()
        child.join(timeout=60)
        assert child.exitcode == 137, f"{crash_at}: the child was to die there"
        # Any task restores first; status then plans prod/ as it is (exit 1 when the new,
        # uncommitted files would be refused, 2 when committed ones are to send).
        code, _, err = run(capsys, "status", "--offline", "--env", "prod")
        assert code in (0, 1, 2) and "Traceback" not in err, err
        after = repo.files("prod")
        assert after in (old, new), f"{crash_at}: prod/ is neither as before nor as promoted"
        seen["new" if after == new else "old"] += 1
        leftovers = sorted(p.name for p in repo.root.iterdir() if p.name.startswith(".prod."))
        assert leftovers == [], f"{crash_at}: {leftovers}"
        git(repo.root, "checkout", "-q", "--", "prod")
        git(repo.root, "clean", "-fdq", "--", "prod")
        assert repo.files("prod") == old
    # Killed before the journal the target stays old; killed after the swap, it is new.
    assert seen["old"] and seen["new"], seen


def test_a_killed_promote_commit_leaves_the_user_on_their_branch_or_done(repo, capsys):  # noqa: F811
    """`promote --commit` commits from git objects, then switches last: killed at any
    moment, the user is on their own branch with prod/ as before, or the promotion is
    done and checked out; never on the promotion branch with half its files."""
    import os
    import signal
    import subprocess
    import sys
    import time

    grow_dev(repo)
    old = repo.files("prod")
    branch = "promote/dev-to-prod"
    command = [sys.executable, "-m", "invoke", "--search-root", str(REPOSITORY), "promote",
               "--from", "dev", "--to", "prod", "--flow", FLOW, "--commit"]  # fmt: skip
    environ = {**os.environ, "GANYMEDE_API_URL": repo.emu.url, "GANYMEDE_API_TOKEN": API_KEY}
    started = time.monotonic()
    first = subprocess.run(command, cwd=repo.root, env=environ, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    whole = time.monotonic() - started
    new = repo.files("prod")
    assert new != old
    git(repo.root, "switch", "-q", "main")
    git(repo.root, "branch", "-q", "-D", branch)
    chooser = random.Random(20261205)  # noqa: S311 - picks kill times, nothing secret
    outcomes = {"before": 0, "done": 0}
    for _ in range(8):
        child = subprocess.Popen(command, cwd=repo.root, env=environ,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(chooser.uniform(0.2, whole))
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = (git(repo.root, "branch", "--show-current"), repo.files("prod"))
        clean = git(repo.root, "status", "--porcelain", "--", "prod") == ""
        assert clean and state in (("main", old), (branch, new)), state[0]
        outcomes["done" if state[0] == branch else "before"] += 1
        if state[0] == branch:
            git(repo.root, "switch", "-q", "main")
        if branch in git(repo.root, "branch", "--list", branch):
            git(repo.root, "branch", "-q", "-D", branch)
    assert sum(outcomes.values()) == 8
