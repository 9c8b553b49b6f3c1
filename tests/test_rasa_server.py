"""The Rasa server's API token stays out of the process list, and still protects the API."""
from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _command_lines() -> list:
    """Every process's command line, as any user of the machine reads it (``ps``)."""
    output = subprocess.run(["ps", "-eo", "args", "--no-headers"], capture_output=True, text=True, check=True)
    return output.stdout.splitlines()


def test_no_process_shows_the_rasa_token_but_the_api_still_requires_it(assistant):
    token = assistant.token
    assert len(token) >= 32
    rasa = assistant.processes["rasa"]
    assert "bot.rasa_server" in Path(f"/proc/{rasa.pid}/cmdline").read_bytes().decode()
    assert not [line for line in _command_lines() if token in line]

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{assistant.rasa_url}/status", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{assistant.rasa_url}/status?token={token}", timeout=10) as response:
        assert response.status == 200
