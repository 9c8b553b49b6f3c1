"""Reply latency, throughput, CPU and memory: this assistant vs a stock ``rasa init`` bot.

Both bots run at the same time on this machine and are driven through their REST
webhooks, the same way:

* **ours** is what ``python -m bot run`` starts on the embedded profile (a launcher
  process starting the Rasa server, the action server and the web gateway; SQLite
  tracker store, the staff console following every conversation, demo platform data),
  reached through the web gateway's ``/webhooks/rest/webhook``;
* **stock** is ``rasa init --no-prompt`` (trained by this benchmark once, cached under
  ``bench/.cache/``) started with ``rasa run``: in-memory tracker store, no action
  server, no console.

Measured in one run, the bots taking turns so that machine noise hits both alike:

* two message mixes: ``issue`` (the seven messages of the performance report, each
  user cycling through them) and ``multiturn`` (a supplier search refined three times,
  an expert search, a demand published through the form's five questions and its summary); the stock
  bot gets its own training phrases in conversations of the same length;
* one user at a time: p50 / p95 reply latency;
* 20 concurrent users (each waits for its reply before the next message):
  throughput and p50;
* CPU time per message of every process (user + system, from ``/proc``, process
  trees), idle CPU of every process (% of a core while nothing happens), resident
  memory of every process;
* console live latency: a staff member's live stream (``/console/api/events``, the
  browser's server-sent events) is open the whole run; for every user message, the
  time from sending it until the stream shows it stored;
* latency as one conversation grows: p50 around turn 1, 50, 150 and 300.

Usage::

    .venv/bin/python bench/bench_reply_latency.py            # full run (~8 min)
    .venv/bin/python bench/bench_reply_latency.py --quick    # smoke run (~4 min)
    .venv/bin/python bench/bench_reply_latency.py --profile  # + py-spy profiles of ours

Prints the table with the ratios ours/stock and the goals, and writes JSON (and
profiles) to ``bench/results/``.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import aiohttp
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.procstat import cpu_seconds, difference, resident_mb  # noqa: E402
from bot.channels.common import split_sender_id  # noqa: E402
from bot.launcher import MODEL_PATH, child_environment, free_port, wait_until_healthy  # noqa: E402
from bot.stats import percentile  # noqa: E402

BENCH_DIR = PROJECT_ROOT / "bench"
CACHE_DIR = BENCH_DIR / ".cache"
RESULTS_DIR = BENCH_DIR / "results"
RASA_VERSION = importlib.metadata.version("rasa")

#: The targets (ours relative to stock measured in the same run, and absolute ones).
GOALS = {
    "latency_p50_ratio": 1.2,  # at most
    "latency_p95_ratio": 1.3,  # at most
    "throughput_ratio": 1.0,  # at least
    "gateway_cpu_ms_per_message": 5.0,  # at most
    "idle_cpu_percent": 0.5,  # at most, every process
    "total_rss_mb": 1400.0,  # at most, all our processes
    "console_live_p95_ms": 300.0,  # at most
}

#: The message mix of the performance report, each user cycling through it.
ISSUE_MIX = [
    "你好",
    "成渝双城经济圈发展基金规模多大",
    "找重庆的铝合金轮毂供应商",
    "川渝联合研发项目支持哪些方向",
    "推荐几位新材料领域的专家",
    "2019年重庆汽车产量是多少",
    "谢谢",
]
#: Multi-turn work: a search refined, more results, an expert search, a form (five
#: questions and the confirmation of its summary, so that each cycle ends it).
MULTITURN_MIX = [
    "你好",
    "找重庆的铝合金轮毂供应商",
    "只看四川的",
    "要有IATF 16949",
    "换一批",
    "推荐几位新材料领域的专家",
    "我要发布采购需求",
    "制动盘",
    "2万件",
    "重庆",
    "三个月内",
    "李经理 13912345678",
    "确认发布",
    "谢谢",
]
OUR_MIXES = {"issue": ISSUE_MIX, "multiturn": MULTITURN_MIX}
#: A question our assistant must answer from its knowledge base, with the source.
SANITY_QUESTION, SANITY_MARK = "川渝联合研发项目支持哪些领域", "来源："
TURN_MARKS = (1, 50, 150, 300)


# -- the two bots ------------------------------------------------------------------------
def stock_mixes(stock_dir: Path) -> Dict[str, List[str]]:
    """The stock bot's own phrases, in conversations as long as ours."""
    nlu = yaml.safe_load((stock_dir / "data" / "nlu.yml").read_text())["nlu"]
    examples = {
        block["intent"]: [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
        for block in nlu
        if "intent" in block
    }
    others = [text for intent, texts in sorted(examples.items()) if intent not in ("greet", "goodbye")
              for text in texts]

    def conversation(length: int, offset: int) -> List[str]:
        middle = [others[(offset + i) % len(others)] for i in range(length - 2)]
        return [examples["greet"][offset % len(examples["greet"])], *middle, examples["goodbye"][0]]

    return {name: conversation(len(mix), index * 7) for index, (name, mix) in enumerate(OUR_MIXES.items())}


def stock_project() -> Path:
    """The stock `rasa init` project with its trained model, created once and cached."""
    project = CACHE_DIR / f"stock-rasa-init-{RASA_VERSION}"
    if list((project / "models").glob("*.tar.gz")):
        return project
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=CACHE_DIR))
    print(f"creating the stock bot with `rasa init --no-prompt` (trains, ~1 min) in {building} …", flush=True)
    with open(CACHE_DIR / "rasa-init.log", "wb") as log:
        subprocess.run(
            [sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(building)],
            cwd=building, check=True, stdout=log, stderr=subprocess.STDOUT,
            env=child_environment({"RASA_TELEMETRY_ENABLED": "false"}),
        )
    if not list((building / "models").glob("*.tar.gz")):
        sys.exit(f"`rasa init` left no model in {building}/models")
    if project.exists():
        shutil.rmtree(project)
    building.rename(project)
    return project


class StockServer:
    """`rasa run` of the stock project on a free loopback port."""

    def __init__(self, project: Path, log_path: Path):
        self.project, self.log_path = project, log_path
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: Optional[subprocess.Popen] = None

    @property
    def pids(self) -> Dict[str, int]:
        assert self.process
        return {"rasa": self.process.pid}

    def start(self) -> "StockServer":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rasa", "run", "--model", "models",
             "--interface", "127.0.0.1", "--port", self.url.rsplit(":", 1)[1],
             "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"],
            cwd=self.project, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True, env=child_environment({"RASA_TELEMETRY_ENABLED": "false"}),
        )
        return self

    def wait_ready(self) -> None:
        assert self.process
        wait_until_healthy("stock rasa", self.url + "/", self.process, self.log_path, time.monotonic() + 300)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


#: What ``python -m bot run`` does after its preparations, on free ports in a scratch
#: var dir: the project's launcher, as its own process (its memory counts too).
LAUNCHER_SCRIPT = """
import json, signal, sys
from pathlib import Path
import bot.cli  # what `python -m bot run` imports
from bot.launcher import Stack, StackConfig
var_dir, model, rasa_port, action_port, web_port = sys.argv[1:6]
stack = Stack(StackConfig(var_dir=Path(var_dir), model_path=Path(model), rasa_port=int(rasa_port),
                          action_port=int(action_port), web_port=int(web_port)))
def stop(*_):
    stack.stop()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
stack.start(timeout=400)
print(json.dumps({name: process.pid for name, process in stack.processes.items()}), flush=True)
exited = stack.supervise()  # as `python -m bot run` does
print(f"{exited} exited", file=sys.stderr)
stack.stop()
sys.exit(1)
"""


class OurStack:
    """Our assistant as ``python -m bot run`` starts it (see :data:`LAUNCHER_SCRIPT`)."""

    def __init__(self, work_dir: Path):
        self.var_dir = work_dir / "ours-var"
        self.var_dir.mkdir()
        self.model = work_dir / "assistant.tar.gz"
        self.web_url = f"http://127.0.0.1:{free_port()}"
        self.process: Optional[subprocess.Popen] = None
        self.pids: Dict[str, int] = {}

    def environment(self) -> Dict[str, str]:
        return child_environment({"CYBOT_VAR_DIR": str(self.var_dir), "CYBOT_PROFILE": "embedded",
                                  "RASA_TELEMETRY_ENABLED": "false"})

    def start(self) -> "OurStack":
        # A copy of the model: someone else's retraining during the run cannot swap it.
        shutil.copy2(MODEL_PATH, self.model)
        subprocess.run(
            [sys.executable, "-c", "from bot.cli import prepare_data; prepare_data()"],
            cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL, env=self.environment(),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER_SCRIPT, str(self.var_dir), str(self.model),
             str(free_port()), str(free_port()), self.web_url.rsplit(":", 1)[1]],
            cwd=PROJECT_ROOT, env=self.environment(), stdout=subprocess.PIPE,
            stderr=open(self.var_dir / "launcher.log", "ab"), start_new_session=True, text=True,
        )
        return self

    def wait_ready(self) -> None:
        assert self.process and self.process.stdout
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"our stack did not start; see {self.var_dir / 'logs'} and launcher.log")
        self.pids = {"launcher": self.process.pid, **json.loads(line)}

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for pid in self.pids.values():  # whatever outlived the launcher
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def staff_session_cookie(self) -> str:
        """A console session for a benchmark staff member (created directly in the store)."""
        from bot.console.security import SESSION_COOKIE
        from bot.handoff.store import HandoffStore

        store = HandoffStore(f"sqlite:///{self.var_dir / 'handoff.db'}")
        try:
            member = store.add_staff(f"bench{uuid.uuid4().hex[:6]}", uuid.uuid4().hex + "Aa1!", "supervisor")
            token, _ = store.create_session(member)
        finally:
            store.dispose()
        return f"{SESSION_COOKIE}={token}"


# -- measurement ---------------------------------------------------------------------------
@dataclass
class Sent:
    """One message sent: to whom, when, how long the reply took, how many replies."""

    sender: str
    started: float
    latency_s: Optional[float]
    replies: int
    stored_before: int  # console messages of this conversation before this one


@dataclass
class Phase:
    sent: List[Sent] = field(default_factory=list)
    elapsed_s: float = 0.0
    cpu_s: Dict[str, float] = field(default_factory=dict)

    @property
    def latencies_ms(self) -> List[float]:
        return [1000 * s.latency_s for s in self.sent if s.latency_s is not None]

    def summary(self) -> Dict[str, float]:
        ok = self.latencies_ms
        count = len(self.sent)
        return {
            "messages": count,
            "errors": count - len(ok),
            "p50_ms": statistics.median(ok) if ok else float("nan"),
            "p95_ms": percentile(ok, 95) if ok else float("nan"),
            "throughput_msg_s": len(ok) / self.elapsed_s if self.elapsed_s else float("nan"),
            **{f"cpu_ms_per_msg_{name}": 1000 * cpu / max(count, 1) for name, cpu in self.cpu_s.items()},
        }


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url = session, url
        self.stored: Dict[str, int] = {}

    async def send(self, sender: str, text: str, phase: Phase) -> List[dict]:
        started = time.perf_counter()
        replies = None
        try:
            async with self.session.post(self.url, json={"sender": sender, "message": text}) as response:
                if response.status == 200:
                    replies = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            pass
        latency = time.perf_counter() - started
        before = self.stored.get(sender, 0)
        ok = isinstance(replies, list)
        phase.sent.append(Sent(sender, started, latency if ok else None, len(replies or []), before))
        self.stored[sender] = before + 1 + len(replies or [])
        return replies if ok else []  # type: ignore[return-value]


async def converse(client: Client, sender: str, messages: Sequence[str], phase: Phase) -> None:
    for text in messages:
        await client.send(sender, text, phase)


async def run_phase(client: Client, pids: Dict[str, int], conversations: Sequence[Tuple[str, Sequence[str]]],
                    concurrent: bool) -> Phase:
    phase = Phase()
    cpu_before = cpu_seconds(pids)
    started = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(converse(client, s, m, phase) for s, m in conversations))
    else:
        for sender, messages in conversations:
            await converse(client, sender, messages, phase)
    phase.elapsed_s = time.perf_counter() - started
    phase.cpu_s = difference(cpu_seconds(pids), cpu_before)
    return phase


class ConsoleWatcher:
    """The staff console's live stream, as a browser holds it: records when each
    conversation's stored message count grew."""

    def __init__(self, session: aiohttp.ClientSession, web_url: str, cookie: str):
        self.session, self.url, self.cookie = session, f"{web_url}/console/api/events", cookie
        self.seen: Dict[str, List[Tuple[float, int]]] = {}
        self.ready = asyncio.Event()
        self.task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async with self.session.get(self.url, headers={"Cookie": self.cookie},
                                            timeout=aiohttp.ClientTimeout(total=None)) as response:
                    event = ""
                    async for raw in response.content:
                        line = raw.decode("utf-8").rstrip("\n")
                        if line.startswith("event: "):
                            event = line[7:]
                            if event == "ready":
                                self.ready.set()
                        elif line.startswith("data: ") and event == "conversation":
                            conversation = json.loads(line[6:])["conversation"]
                            # The REST channel keeps its callers in their own namespace.
                            sender = split_sender_id(str(conversation["sender_id"]))[1]
                            self.seen.setdefault(sender, []).append(
                                (time.perf_counter(), int(conversation["message_count"])))
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as error:
                # The stream dropped: reconnect, as the console does.
                print(f"  console stream: {error!r}; reconnecting", flush=True)
                await asyncio.sleep(0.5)

    def delays_ms(self, phase: Phase) -> Tuple[List[float], int]:
        """Send → shown on the stream, for each message of ``phase``; and how many never showed."""
        delays, missing = [], 0
        for sent in phase.sent:
            shown = [at for at, count in self.seen.get(sent.sender, []) if count > sent.stored_before]
            if shown:
                delays.append(1000 * max(0.0, min(shown) - sent.started))
            else:
                missing += 1
        return delays, missing

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def user_conversations(prefix: str, mix: Sequence[str], users: int, cycles: int) -> List[Tuple[str, List[str]]]:
    """``users`` conversations, each cycling ``cycles`` times through ``mix``, each
    starting at a different place in it."""
    out = []
    for user in range(users):
        messages = [mix[(user + i) % len(mix)] for i in range(len(mix) * cycles)]
        out.append((f"{prefix}-{user}", messages))
    return out


PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def start_profiles(pids: Dict[str, int], seconds: int, out_dir: Path) -> List[subprocess.Popen]:
    """py-spy on every process of ours for ``seconds`` (speedscope JSON + flame SVG)."""
    recorders = []
    for name, pid in pids.items():
        for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
            recorders.append(subprocess.Popen(
                [PY_SPY, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "50",
                 "--format", fmt, "--output", str(out_dir / f"profile-{name}.{suffix}"), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
    return recorders


@dataclass
class Plan:
    rounds: int
    latency_cycles: int
    users: int
    concurrent_messages: int
    idle_s: float
    growth_turns: int


async def measure(plan: Plan, ours: OurStack, stock: StockServer, stock_dir: Path, run_id: str,
                  profile_dir: Optional[Path]) -> dict:
    bots = {"ours": ours, "stock": stock}
    urls = {"ours": f"{ours.web_url}/webhooks/rest/webhook", "stock": f"{stock.url}/webhooks/rest/webhook"}
    mixes = {"ours": dict(OUR_MIXES), "stock": stock_mixes(stock_dir)}
    results: dict = {"phases": [], "console": {}, "growth": {}}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180), connector=connector) as session:
        clients = {name: Client(session, urls[name]) for name in bots}
        watcher = ConsoleWatcher(session, ours.web_url, ours.staff_session_cookie())
        watcher.start()
        await asyncio.wait_for(watcher.ready.wait(), 30)

        # Both really answer.
        probe = Phase()
        replies = await clients["ours"].send(f"bench-{run_id}-sanity", SANITY_QUESTION, probe)
        if not any(SANITY_MARK in (r.get("text") or "") for r in replies):
            sys.exit(f"our assistant did not answer {SANITY_QUESTION!r} with a source: {replies}")
        if not await clients["stock"].send(f"bench-{run_id}-sanity", "hi", probe):
            sys.exit("the stock bot did not answer 'hi'")

        print("warming up …", flush=True)
        for name in bots:
            for mix_name, mix in mixes[name].items():
                await run_phase(clients[name], bots[name].pids,
                                user_conversations(f"bench-{run_id}-{name}-warm-{mix_name}", mix, plan.users, 1)[:4],
                                concurrent=True)

        # Idle: nobody sends anything.
        await asyncio.sleep(3)
        pids = {f"{name}.{proc}": pid for name in bots for proc, pid in bots[name].pids.items()}
        before = cpu_seconds(pids)
        await asyncio.sleep(plan.idle_s)
        idle = difference(cpu_seconds(pids), before)
        results["idle_cpu_percent"] = {name: 100 * cpu / plan.idle_s for name, cpu in idle.items()}
        print("  idle CPU % of a core: " + ", ".join(f"{k} {v:.2f}" for k, v in results["idle_cpu_percent"].items()),
              flush=True)

        recorders: List[subprocess.Popen] = []
        for number in range(plan.rounds):
            order = list(bots) if number % 2 == 0 else list(reversed(bots))
            for mix_name in OUR_MIXES:
                for kind in ("single", "concurrent"):
                    if kind == "concurrent" and profile_dir and number == 0 and mix_name == "issue":
                        recorders = start_profiles(ours.pids, 25, profile_dir)
                    for name in order:
                        mix = mixes[name][mix_name]
                        prefix = f"bench-{run_id}-{name}-r{number}-{mix_name}-{kind}"
                        if kind == "single":
                            conversations = user_conversations(prefix, mix, 1, plan.latency_cycles)
                        else:
                            cycles = max(1, round(plan.concurrent_messages / plan.users / len(mix)))
                            conversations = user_conversations(prefix, mix, plan.users, cycles)
                        phase = await run_phase(clients[name], bots[name].pids, conversations, kind == "concurrent")
                        summary = phase.summary()
                        entry = {"bot": name, "round": number, "mix": mix_name, "kind": kind, **summary}
                        if name == "ours":
                            await asyncio.sleep(1.0)  # let the console catch up before judging it
                            delays, missing = watcher.delays_ms(phase)
                            entry["console_p50_ms"] = statistics.median(delays) if delays else float("nan")
                            entry["console_p95_ms"] = percentile(delays, 95) if delays else float("nan")
                            entry["console_missing"] = missing
                            results["console"].setdefault(kind, []).extend(delays)
                        results["phases"].append(entry)
                        cpu = ", ".join(f"{p} {1000 * c / max(len(phase.sent), 1):.1f}" for p, c in phase.cpu_s.items())
                        console = (f"; console p95 {entry['console_p95_ms']:.0f} ms, missing {entry['console_missing']}"
                                   if name == "ours" else "")
                        print(f"  round {number + 1} {mix_name:9} {kind:10} {name:5}: p50 {summary['p50_ms']:.0f} ms, "
                              f"p95 {summary['p95_ms']:.0f} ms, {summary['throughput_msg_s']:.1f} msg/s, "
                              f"failed {summary['errors']}; CPU ms/msg: {cpu}{console}", flush=True)
        for recorder in recorders:
            recorder.wait()

        # One long conversation per bot, turn by turn alternating the bots.
        print(f"one conversation of {plan.growth_turns} turns per bot …", flush=True)
        growth = {name: Phase() for name in bots}
        for turn in range(plan.growth_turns):
            for name in (order if turn % 2 == 0 else reversed(order)):
                mix = mixes[name]["issue"]
                await clients[name].send(f"bench-{run_id}-{name}-growth", mix[turn % len(mix)], growth[name])
        for name, phase in growth.items():
            latencies = [1000 * s.latency_s if s.latency_s is not None else float("nan") for s in phase.sent]
            marks = {}
            for mark in TURN_MARKS:
                if mark > len(latencies):
                    continue
                window = latencies[max(0, mark - 5): mark + 4] if mark > 1 else latencies[:5]
                marks[str(mark)] = statistics.median(window)
            results["growth"][name] = marks
        results["rss_mb"] = {f"{name}.{proc}": mb for name in bots for proc, mb in resident_mb(bots[name].pids).items()}
        await watcher.stop()
    return results


def summarise(results: dict) -> dict:
    """Medians over rounds of each phase's figures, per bot, mix and kind."""
    table: dict = {}
    for entry in results["phases"]:
        table.setdefault((entry["bot"], entry["mix"], entry["kind"]), []).append(entry)
    out: dict = {}
    for (bot, mix, kind), entries in table.items():
        keys = [k for k in entries[0] if isinstance(entries[0][k], (int, float)) and k != "round"]
        out.setdefault(bot, {}).setdefault(mix, {})[kind] = {
            key: (sum(e[key] for e in entries) if key in ("errors", "messages", "console_missing")
                  else statistics.median(e[key] for e in entries))
            for key in keys
        }
    return out


def report(summary: dict, results: dict, plan: Plan) -> dict:
    ours, stock = summary["ours"], summary["stock"]
    verdicts: Dict[str, bool] = {}
    lines = ["| figure | mix | ours | stock | ours/stock | goal |", "|---|---|---:|---:|---:|---|"]

    def row(label: str, mix: str, a: float, b: Optional[float], unit: str, goal: str = "", met: Optional[bool] = None):
        ratio = f"{a / b:.2f}" if b else ""
        stock_text = f"{b:.1f} {unit}" if b is not None else "–"
        verdict = f"{goal}: {'met' if met else '**NOT met**'}" if goal else ""
        lines.append(f"| {label} | {mix} | {a:.1f} {unit} | {stock_text} | {ratio} | {verdict} |")

    for mix in OUR_MIXES:
        o, s = ours[mix], stock[mix]
        p50 = o["single"]["p50_ms"] / s["single"]["p50_ms"]
        p95 = o["single"]["p95_ms"] / s["single"]["p95_ms"]
        tput = o["concurrent"]["throughput_msg_s"] / s["concurrent"]["throughput_msg_s"]
        verdicts[f"{mix}.p50"] = p50 <= GOALS["latency_p50_ratio"]
        verdicts[f"{mix}.p95"] = p95 <= GOALS["latency_p95_ratio"]
        verdicts[f"{mix}.throughput"] = tput >= GOALS["throughput_ratio"]
        row("1 user p50", mix, o["single"]["p50_ms"], s["single"]["p50_ms"], "ms",
            f"≤ {GOALS['latency_p50_ratio']}×", verdicts[f"{mix}.p50"])
        row("1 user p95", mix, o["single"]["p95_ms"], s["single"]["p95_ms"], "ms",
            f"≤ {GOALS['latency_p95_ratio']}×", verdicts[f"{mix}.p95"])
        row(f"{plan.users} users throughput", mix, o["concurrent"]["throughput_msg_s"],
            s["concurrent"]["throughput_msg_s"], "msg/s", f"≥ {GOALS['throughput_ratio']}×",
            verdicts[f"{mix}.throughput"])
        row(f"{plan.users} users p50", mix, o["concurrent"]["p50_ms"], s["concurrent"]["p50_ms"], "ms")
        for process in ("rasa", "actions", "web", "launcher"):
            key = f"cpu_ms_per_msg_{process}"
            if key not in o["concurrent"]:
                continue
            goal, met = "", None
            if process == "web":
                met = o["concurrent"][key] <= GOALS["gateway_cpu_ms_per_message"]
                verdicts[f"{mix}.gateway_cpu"] = met
                goal = f"≤ {GOALS['gateway_cpu_ms_per_message']} ms"
            row(f"CPU per message, {process}", mix, o["concurrent"][key],
                s["concurrent"].get(key) if process == "rasa" else None, "ms", goal, met)
    for kind in ("single", "concurrent"):
        delays = results["console"].get(kind, [])
        if delays:
            p95 = percentile(delays, 95)
            met = p95 <= GOALS["console_live_p95_ms"]
            verdicts[f"console_live_{kind}"] = met
            missing = sum(e.get("console_missing", 0) for e in results["phases"] if e["kind"] == kind)
            row(f"console live p95 ({'1 user' if kind == 'single' else f'{plan.users} users'}; "
                f"p50 {statistics.median(delays):.0f} ms; never shown {missing})", "both", p95, None, "ms",
                f"≤ {GOALS['console_live_p95_ms']:.0f} ms", met)
    idle = results["idle_cpu_percent"]
    for name, percent in idle.items():
        if name.startswith("ours."):
            met = percent <= GOALS["idle_cpu_percent"]
            verdicts[f"idle.{name}"] = met
            row(f"idle CPU, {name[5:]}", "", percent, idle.get("stock.rasa") if name == "ours.rasa" else None,
                "% core", f"≤ {GOALS['idle_cpu_percent']}%", met)
    rss = results["rss_mb"]
    total = sum(v for k, v in rss.items() if k.startswith("ours."))
    for name, mb in rss.items():
        if name.startswith("ours."):
            row(f"resident memory, {name[5:]}", "", mb, None, "MB")
    verdicts["rss"] = total <= GOALS["total_rss_mb"]
    row("resident memory, all of ours", "", total, rss.get("stock.rasa"), "MB",
        f"≤ {GOALS['total_rss_mb']:.0f} MB", verdicts["rss"])
    for mark in TURN_MARKS:
        key = str(mark)
        if key in results["growth"]["ours"]:
            row(f"p50 at turn {mark} of one conversation", "issue", results["growth"]["ours"][key],
                results["growth"]["stock"].get(key), "ms")
    print("\n" + "\n".join(lines))
    return verdicts


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: 1 round, fewer messages")
    parser.add_argument("--rounds", type=int, help="rounds (default 2; quick 1)")
    parser.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument("--growth-turns", type=int, help="turns of the long conversation (default 300; quick 150)")
    parser.add_argument("--profile", action="store_true", help="py-spy profiles of our processes under load")
    parser.add_argument("--no-train", action="store_true", help="use models/assistant.tar.gz as it is")
    args = parser.parse_args(argv)
    plan = Plan(
        rounds=args.rounds or (1 if args.quick else 2),
        latency_cycles=3 if args.quick else 6,
        users=args.users,
        concurrent_messages=140 if args.quick else 260,
        idle_s=10 if args.quick else 20,
        growth_turns=args.growth_turns or (150 if args.quick else 300),
    )
    if not args.no_train:
        subprocess.run([sys.executable, "-m", "bot", "train"], cwd=PROJECT_ROOT, check=True)
    if not MODEL_PATH.exists():
        sys.exit(f"no model at {MODEL_PATH}: run `.venv/bin/python -m bot train`")
    stock_dir = stock_project()
    run_id = uuid.uuid4().hex[:8]
    started_at = datetime.now(timezone.utc)
    load_at_start = os.getloadavg()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_at_start)} on {os.cpu_count()} cores",
          flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    profile_dir = None
    if args.profile:
        profile_dir = RESULTS_DIR / f"profiles_{stamp}"
        profile_dir.mkdir()

    with tempfile.TemporaryDirectory(prefix="bench-reply-") as tmp:
        work_dir = Path(tmp)
        ours, stock = OurStack(work_dir), StockServer(stock_dir, work_dir / "stock-rasa.log")
        try:
            print("starting our assistant (launcher: Rasa, actions, gateway) and the stock bot …", flush=True)
            ours.start()
            stock.start()
            ours.wait_ready()
            stock.wait_ready()
            print(f"measuring: {plan}", flush=True)
            results = asyncio.run(measure(plan, ours, stock, stock_dir, run_id, profile_dir))
        except RuntimeError:
            for log in sorted(work_dir.rglob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- last lines of {log.name} ---\n" + "\n".join(tail))
            raise
        finally:
            stock.stop()
            ours.stop()

    summary = summarise(results)
    verdicts = report(summary, results, plan)
    load_at_end = os.getloadavg()
    arguments = argv if argv is not None else sys.argv[1:]
    record = {
        "benchmark": "reply_latency",
        "command": " ".join([".venv/bin/python bench/bench_reply_latency.py", *arguments]).strip(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "rasa": RASA_VERSION, "load_average_start": load_at_start, "load_average_end": load_at_end,
        },
        "plan": plan.__dict__,
        "summary": summary,
        "goals": GOALS,
        "goals_met": verdicts,
        "idle_cpu_percent": results["idle_cpu_percent"],
        "rss_mb": results["rss_mb"],
        "growth_p50_ms": results["growth"],
        "phases": results["phases"],
    }
    out = RESULTS_DIR / f"reply_latency_{stamp}.json"
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in load_at_end)}; results: "
          f"{out.relative_to(PROJECT_ROOT)}" + (f"; profiles: {profile_dir.relative_to(PROJECT_ROOT)}"
                                                 if profile_dir else ""))


if __name__ == "__main__":
    main()
