"""invoke notify: messages rendered and posted to a webhook server on 127.0.0.1."""

# ruff: noqa: F811 - the tests take the imported repo fixture

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest
from test_promote import (
    NODE,
    repo,  # noqa: F401 - the fixture of dev/ and prod/ pulled
)

from task_runner import run_task as run

SECRET_PATH = "/services/T000/B000/s3cr3t-webhook-token"


class Webhook(http.server.ThreadingHTTPServer):
    """A chat webhook: keeps every JSON body posted to it; answers ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_PATH}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def hook(monkeypatch):
    server = Webhook()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GANYMEDE_WEBHOOK_URL", server.url)
    yield server
    server.shutdown()
    server.server_close()


def notify(capsys, *options: str) -> tuple[int, str, str]:
    return run(capsys, "notify", "--env", "dev", "--run-url", "https://github.com/r/actions/runs/9",
               *options)  # fmt: skip


def test_a_deploy_success_names_what_was_sent_and_the_run(repo, hook, capsys):
    repo.append(f"dev/{NODE}", "# tuned\n")
    repo.commit("Tune")
    code, out, err = run(capsys, "deploy", "--env", "dev")
    assert code == 0, err
    tag = out.split("recorded in git as tag ")[1].split()[0]
    code, out, err = notify(capsys, "--event", "deploy", "--outcome", "success", "--record", tag)
    assert code == 0 and 'notified the deploy of dev/ (a {"text"} message)' in out, err
    (body,) = hook.bodies
    assert body["text"].startswith("Deployed dev/ to acme/dev: 1 file(s) from ")
    assert tag in body["text"] and "https://github.com/r/actions/runs/9" in body["text"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--outcome", "failure"], "Deploy of dev/ to acme/dev failed; Ganymede may be behind"),
        (["--outcome", "cancelled"], "Deploy of dev/ to acme/dev was cancelled"),
        (
            ["--event", "drift", "--link", "https://github.com/r/pull/3"],
            "Ganymede acme/dev changed outside git: the sync pull request of dev/ was opened",
        ),
        (
            ["--event", "promotion", "--source", "dev", "--link", "https://github.com/r/pull/4"],
            "Promotion of dev/ to dev/ (acme/dev) waits for review: https://github.com/r/pull/4",
        ),
    ],
    ids=["failure", "cancelled", "drift", "promotion"],
)
def test_failure_drift_and_promotion_messages(repo, hook, capsys, options, says):
    code, _, err = notify(capsys, *options)
    assert code == 0, err
    assert says in hook.bodies[0]["text"]


def test_a_deploy_whose_smoke_run_failed_says_it_was_deployed(repo, hook, capsys):
    repo.append(f"dev/{NODE}", "# tuned\n")
    repo.commit("Tune")
    _, out, _ = run(capsys, "deploy", "--env", "dev")
    tag = out.split("recorded in git as tag ")[1].split()[0]
    notify(capsys, "--outcome", "failure", "--record", tag)
    assert "was deployed" in hook.bodies[0]["text"] and "smoke run" in hook.bodies[0]["text"]


def test_teams_gets_an_adaptive_card(repo, hook, capsys, monkeypatch):
    monkeypatch.setenv("GANYMEDE_WEBHOOK_FORMAT", "teams")
    code, out, _ = notify(capsys, "--outcome", "failure")
    assert code == 0 and "(an Adaptive Card, for Teams)" in out
    (attachment,) = hook.bodies[0]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "failed" in attachment["content"]["body"][0]["text"]


def test_a_dead_or_failing_webhook_is_a_warning_and_never_shows_its_url(
    repo, hook, capsys, monkeypatch
):
    hook.status = 500
    code, out, err = notify(capsys, "--outcome", "failure")
    assert code == 0 and "warning: the deploy notification was not delivered" in out
    assert "HTTP 500" in out and "s3cr3t" not in out + err
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}{SECRET_PATH}"
    monkeypatch.setenv("GANYMEDE_WEBHOOK_URL", dead)
    code, out, err = notify(capsys, "--outcome", "failure")
    assert code == 0 and "could not be reached" in out and "s3cr3t" not in out + err
    monkeypatch.setenv("GANYMEDE_WEBHOOK_URL", "http://chat.example.com" + SECRET_PATH)
    code, out, err = notify(capsys, "--outcome", "failure")
    assert code == 0 and "must be an https:// URL" in out and "s3cr3t" not in out + err


def test_without_a_webhook_nothing_is_sent(repo, capsys, monkeypatch):
    monkeypatch.delenv("GANYMEDE_WEBHOOK_URL", raising=False)
    code, out, _ = notify(capsys, "--outcome", "failure")
    assert code == 0 and "no GANYMEDE_WEBHOOK_URL set: no notification sent" in out


def test_an_unknown_event_is_one_line(repo, hook, capsys):
    code, _, err = notify(capsys, "--event", "party")
    assert code == 1 and "--event must be one of deploy, drift, promotion" in err
    assert hook.bodies == []


def test_what_a_notice_cannot_know_is_refused_and_slack_marks_stay_text(repo, hook, capsys):
    code, _, err = notify(capsys, "--event", "deploy")
    assert code == 1 and "a deploy notice needs --outcome" in err
    code, _, err = notify(capsys, "--outcome", "success", "--record", "deploy/dev/bogus")
    assert code == 1 and "no deploy record 'deploy/dev/bogus' of dev/" in err
    code, _, err = notify(capsys, "--event", "drift", "--link", "javascript:alert(1)")
    assert code == 1 and "--link must be an https:// link" in err
    assert hook.bodies == []
    code, _, _ = notify(capsys, "--event", "drift", "--link", "https://x/<!here>&")
    assert code == 0
    assert (
        "&lt;!here&gt;&amp;" in hook.bodies[0]["text"] and "<!here>" not in hook.bodies[0]["text"]
    )
    code, _, _ = run(capsys, "notify", "--env", "prod", "--event", "promotion", "--source", "dev")
    assert hook.bodies[1]["text"] == "Promotion of dev/ to prod/ (acme/prod) waits for review."
