"""Small helpers for tests that talk to a running assistant."""
from __future__ import annotations

import json
import urllib.request

from bot.launcher import Stack


def send_rest(stack: Stack, sender: str, text, timeout: float = 60) -> list:
    """Send one message through the public REST webhook; return the bot's messages."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    base = stack.web_url if "web" in stack.processes else stack.rasa_url
    request = urllib.request.Request(
        f"{base}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


#: Debian's Chromium, driven by Playwright (never a browser Playwright downloads).
CHROMIUM = "/usr/bin/chromium"
#: Headless flags for this closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
