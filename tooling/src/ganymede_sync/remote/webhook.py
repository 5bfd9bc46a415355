"""Post one notification to a chat webhook (Slack-compatible, or a Teams workflow).

The webhook URL is a secret (it carries its own token): it never appears in output,
logs or errors, and nothing else is sent to it. Only HTTPS, except to this machine (a
local test server). Redirects are not followed, the answer is not read beyond its
status, and every exchange is bounded in time. A failure is reported, never raised:
a notification must never fail the deploy it tells of.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

TIMEOUT_SECONDS = 10.0
MAX_MESSAGE_CHARS = 30_000
"""Slack truncates a message's text at 40,000 characters; Teams cards are smaller still."""
TEAMS_HOSTS = (".webhook.office.com", ".logic.azure.com", ".powerplatform.com")


def webhook_problem(url: str) -> str | None:
    """Say what is wrong with ``url`` as a webhook, or None (never showing the URL)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return None
    return "the webhook URL must be an https:// URL (http:// only to this machine)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def payload_format(url: str, chosen: str | None = None) -> str:
    """Return "teams" for a Teams workflow webhook, else "slack" (``{"text": ...}``)."""
    if chosen in ("slack", "teams"):
        return chosen
    host = (urlsplit(url).hostname or "").lower()
    return "teams" if host.endswith(TEAMS_HOSTS) else "slack"


def payload(text: str, kind: str) -> dict[str, object]:
    """The JSON body: Slack's (and most chats') ``text``, or an Adaptive Card for Teams,
    which accepts cards only."""
    text = text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
    if kind != "teams":
        # Slack reads <...> as links and mentions (<!here> pings a channel): escaped, as
        # its formatting rules ask, they are only text.
        return {"text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}
    card = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def post(url: str, body: dict[str, object]) -> str | None:
    """POST ``body``; return None on success, else a line saying what failed (no URL)."""
    problem = webhook_problem(url)
    if problem:
        return problem
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = client.post(url, json=body)
    except httpx.TimeoutException:
        return f"the webhook did not answer within {TIMEOUT_SECONDS:.0f} s"
    except httpx.HTTPError as error:
        return f"the webhook could not be reached ({type(error).__name__})"
    if response.is_success:
        return None
    return f"the webhook answered HTTP {response.status_code}"
