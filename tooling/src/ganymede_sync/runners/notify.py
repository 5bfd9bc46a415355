"""Tell the team: one chat message per event, to the webhook in ``GANYMEDE_WEBHOOK_URL``.

The workflows call ``invoke notify`` after a deploy (success, failure, or a deploy
whose smoke run failed), when a pull finds Ganymede drifted (its sync pull request was
opened or updated), and when a promotion pull request waits for reviewers. No webhook
set: nothing is sent, and that is no error. A webhook that fails is reported as a
warning: a notification never fails the job that sends it.

Never prints and never imports Invoke.
"""

from __future__ import annotations

from collections.abc import Mapping

from ganymede_sync.errors import ConfigError
from ganymede_sync.local.deploy_history import find_record, read_records
from ganymede_sync.remote import webhook
from ganymede_sync.results import Notice
from ganymede_sync.rules.visible import visible
from ganymede_sync.settings.config import Settings
from ganymede_sync.ui import report

WEBHOOK_VARIABLE = "GANYMEDE_WEBHOOK_URL"
FORMAT_VARIABLE = "GANYMEDE_WEBHOOK_FORMAT"
EVENTS = ("deploy", "drift", "promotion")
OUTCOMES = ("success", "failure", "cancelled")


def notify(
    settings: Settings, folder: str | None, notice: Notice, environ: Mapping[str, str]
) -> str:
    """Send ``notice`` to the webhook, if one is set; return a line saying what happened."""
    environment = settings.environment(folder)
    if notice.event not in EVENTS:
        raise ConfigError(f"--event must be one of {', '.join(EVENTS)}, not '{notice.event}'")
    if notice.event == "deploy" and notice.outcome not in OUTCOMES:
        given = f", not '{visible(notice.outcome)}'" if notice.outcome else ""
        raise ConfigError(f"a deploy notice needs --outcome: one of {', '.join(OUTCOMES)}{given}")
    for name, url in (("--link", notice.link), ("--run-url", notice.run_url)):
        if url and not url.startswith("https://"):
            raise ConfigError(f"{name} must be an https:// link, not '{visible(url)}'")
    url = environ.get(WEBHOOK_VARIABLE, "").strip()
    if not url:
        return f"no {WEBHOOK_VARIABLE} set: no notification sent"
    record = None
    if notice.record:
        record = find_record(read_records(settings, environment.folder), notice.record)
        if record is None:
            raise ConfigError(
                f"no deploy record '{visible(notice.record)}' of {environment.folder}/ in this "
                f"clone (invoke history --env {environment.folder} lists them)"
            )
    text = report.notification_text(
        notice, environment.folder, settings.target(environment), record
    )
    kind = webhook.payload_format(url, environ.get(FORMAT_VARIABLE))
    failure = webhook.post(url, webhook.payload(text, kind))
    if failure:
        return f"warning: the {notice.event} notification was not delivered: {failure}"
    shape = "an Adaptive Card, for Teams" if kind == "teams" else 'a {"text"} message'
    return f"notified the {notice.event} of {environment.folder}/ ({shape})"
