"""``python -m bot run`` as a supervisor: SIGTERM/SIGHUP stop every process as Ctrl-C does,
and a process that dies is started again (with a limit and a log line)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

import pytest

from bot.cli import StopRequested, stop_on_termination_signals
from bot.launcher import MAX_RESTARTS, Stack, StackConfig, free_port
from bot.settings import PROJECT_ROOT


def test_sigterm_and_sighup_become_a_stop_request_once():
    for number in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(StopRequested, match=signal.Signals(number).name):
            with stop_on_termination_signals():
                os.kill(os.getpid(), number)
                time.sleep(1)  # the handler raises here
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def children_of(pid: int) -> Dict[int, str]:
    """``{pid: command line}`` of the running child processes of ``pid``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_restarts_a_dead_process_and_sigterm_stops_everything(trained_model, platform_template, tmp_path):
    var_dir = tmp_path / "var"
    shutil.copytree(platform_template, var_dir)
    ports = {"rasa": free_port(), "actions": free_port(), "web": free_port()}
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "CYBOT_VAR_DIR": str(var_dir),
        "RASA_URL": f"http://127.0.0.1:{ports['rasa']}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{ports['actions']}/webhook",
        "WEB_PORT": str(ports["web"]),
    }
    output = open(tmp_path / "run.log", "wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
    )
    log = tmp_path / "run.log"
    try:
        wait_for(lambda: "The assistant is running" in log.read_text() or launcher.poll() is not None, 600,
                 "the assistant to start")
        assert launcher.poll() is None, log.read_text()
        first_children = children_of(launcher.pid)
        assert len(first_children) == 3, first_children
        [actions] = [pid for pid, command in first_children.items() if "rasa_sdk" in command]

        os.kill(actions, signal.SIGKILL)
        wait_for(lambda: "is running again" in log.read_text(), 300, "the action server to be restarted")
        assert "actions exited with -9; restarting it (1 of" in log.read_text()
        assert healthy(f"http://127.0.0.1:{ports['actions']}/health")
        children = children_of(launcher.pid)
        assert len(children) == 3 and actions not in children

        launcher.send_signal(signal.SIGTERM)  # what systemd and `docker stop` send
        assert launcher.wait(timeout=60) == 0
        every_child = set(first_children) | set(children)
        wait_for(lambda: not any(alive(pid) for pid in every_child), 30, "the children to exit")
        assert not any(port_open(port) for port in ports.values()), "a port is still held"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in children_of(launcher.pid):
            os.killpg(pid, signal.SIGKILL)
        output.close()


class SleeperStack(Stack):
    """A stack whose processes are tiny Python programs: one keeps dying."""

    def commands(self) -> Dict[str, List[str]]:
        return {
            "steady": [sys.executable, "-c", "import time; time.sleep(120)"],
            "flaky": [sys.executable, "-c", "import sys; sys.exit(3)"],
        }

    def health_urls(self) -> Dict[str, str]:
        return dict.fromkeys(self.commands(), "")

    def _wait_healthy(self, name: str, url: str, deadline: float) -> None:
        process = self.processes[name]
        time.sleep(0.3)
        if process.poll() is not None:
            from bot.launcher import StackError

            raise StackError(f"{name} exited")


@pytest.mark.stack  # starts programs
def test_a_process_that_keeps_dying_is_restarted_up_to_the_limit(tmp_path, capsys):
    stack = SleeperStack(StackConfig(var_dir=tmp_path, model_path=Path(__file__)))
    stack._commands = stack.commands()
    for name in stack._commands:
        stack._launch(name)
    try:
        assert stack.supervise(poll_s=0.1) == "flaky"
        assert stack.processes["steady"].poll() is None  # the healthy one was left alone
    finally:
        stack.stop()
    err = capsys.readouterr().err
    assert err.count("warning: flaky exited with 3; restarting it") == MAX_RESTARTS
    assert "giving up" in err
    assert (tmp_path / "logs").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "logs" / "flaky.log").stat().st_mode & 0o777 == 0o600
