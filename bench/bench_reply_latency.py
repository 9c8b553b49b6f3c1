"""Reply latency and throughput: this assistant vs a stock ``rasa init`` bot.

Both bots run at the same time, each behind Rasa's REST webhook
(``POST /webhooks/rest/webhook``), and are measured the same way:

* **latency** – one user at a time sends messages sequentially (conversations of
  ``--turns`` messages under fresh sender ids); median and p95 of the time until the
  reply arrives;
* **throughput** – ``--users`` users with distinct sender ids each send ``--turns``
  messages, every user waiting for its reply before the next message (as people do);
  messages answered per second over the whole burst.

Our assistant is started with the project's launcher (Rasa server + action server,
embedded SQLite tracker store and event broker, exactly what ``python -m bot run``
starts, minus the web gateway); it gets a realistic Chinese mix of greetings, policy
questions, help, thanks, out-of-scope and unclear messages. The stock bot is
``rasa init --no-prompt`` (cached under ``bench/.cache/``) started with ``rasa run``;
it gets its own English training phrases. The bots take turns conversation by
conversation (A,B,B,A,…) and burst by burst (A,B then B,A …) so that machine noise
hits both alike; figures are medians over rounds.

Usage::

    .venv/bin/python bench/bench_reply_latency.py            # full run (~10 min)
    .venv/bin/python bench/bench_reply_latency.py --quick    # smoke run (~3 min)

Results are printed as a table with the ratios ours/stock and written as JSON to
``bench/results/``.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import aiohttp
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bot.launcher import MODEL_PATH, Stack, StackConfig, StackError, child_environment, free_port  # noqa: E402
from bot.settings import get_settings  # noqa: E402
from bot.stats import percentile  # noqa: E402

BENCH_DIR = PROJECT_ROOT / "bench"
CACHE_DIR = BENCH_DIR / ".cache"
RESULTS_DIR = BENCH_DIR / "results"
RASA_VERSION = importlib.metadata.version("rasa")

#: The speed target: ours/stock latency at most this, throughput at least that.
LATENCY_RATIO_GOAL = 1.5
THROUGHPUT_RATIO_GOAL = 0.8
#: Messages per user in the concurrent warm-up burst (opens connections, fills caches).
WARMUP_CONCURRENT_TURNS = 3

#: What a company user of our assistant sends, by kind (none of it is needed to be
#: in the training data; policy questions are the bulk of real traffic).
OUR_GREETINGS = ["你好", "您好，想咨询一下", "在吗", "你好，我是一家汽车零部件企业"]
OUR_MESSAGES: Dict[str, Sequence[str]] = {
    "policy": [
        "川渝联合研发项目支持哪些领域",
        "发展基金规模多大",
        "成渝地区双城经济圈发展基金主要投向哪里",
        "2019年川渝两地汽车产量是多少",
        "川渝汽车产业合作有哪六大重点事项",
        "汽车产业链供需对接平台现在有多少家企业",
        "科技专家库共享协议是谁签的",
        "重庆高新区和成都高新区到2025年的目标是什么",
        "西部科学城建设有什么成果",
        "成渝电子信息产业走廊是在哪里签约的",
        "硅光芯片项目是哪家单位在做",
        "汽车产业合作工作专班是做什么的",
        "四川电子信息产业产值多少",
        "有哪些合作政策",
    ],
    "help": ["你能做什么", "怎么用这个助手"],
    "thanks": ["谢谢", "好的，明白了，谢谢"],
    "out_of_scope": ["今天天气怎么样", "帮我订一张去北京的机票", "推荐一家火锅店"],
    "unclear": ["嗯那个东西呢", "asdf qwer"],
}
OUR_MIX_WEIGHTS = {"policy": 0.6, "help": 0.08, "thanks": 0.1, "out_of_scope": 0.12, "unclear": 0.1}
OUR_GOODBYE = "再见"
#: A question our assistant must answer from its knowledge base, with the source.
OUR_SANITY_QUESTION, OUR_SANITY_MARK = "川渝联合研发项目支持哪些领域", "来源："


@dataclass
class Bot:
    """A running bot and the conversations it is benchmarked with."""

    name: str
    webhook_url: str
    conversation: Callable[[random.Random, int], List[str]]


@dataclass
class PhaseResult:
    """Reply times and failures of one measured phase against one bot."""

    latencies_s: List[float] = field(default_factory=list)
    errors: int = 0
    empty_replies: int = 0
    elapsed_s: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0

    def summary(self) -> Dict[str, float]:
        ok = self.latencies_s
        return {
            "messages": len(ok) + self.errors,
            "errors": self.errors,
            "empty_replies": self.empty_replies,
            "median_ms": 1000 * statistics.median(ok) if ok else float("nan"),
            "p95_ms": 1000 * percentile(ok, 95) if ok else float("nan"),
            "throughput_msg_s": len(ok) / self.elapsed_s if self.elapsed_s else float("nan"),
            "elapsed_s": self.elapsed_s,
            "load1_before": self.load_before,
            "load1_after": self.load_after,
        }


def our_conversation(rng: random.Random, turns: int) -> List[str]:
    """A greeting, a realistic mix of requests, and a goodbye."""
    kinds = list(OUR_MIX_WEIGHTS)
    weights = [OUR_MIX_WEIGHTS[k] for k in kinds]
    middle = [rng.choice(OUR_MESSAGES[rng.choices(kinds, weights)[0]]) for _ in range(max(turns - 2, 0))]
    return ([rng.choice(OUR_GREETINGS)] + middle + [OUR_GOODBYE])[:turns]


def stock_conversation_factory(stock_dir: Path) -> Callable[[random.Random, int], List[str]]:
    """Conversations made of the stock bot's own training phrases."""
    nlu = yaml.safe_load((stock_dir / "data" / "nlu.yml").read_text())["nlu"]
    examples = {
        block["intent"]: [line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")]
        for block in nlu
        if "intent" in block
    }
    others = [text for intent, texts in examples.items() if intent not in ("greet", "goodbye") for text in texts]

    def conversation(rng: random.Random, turns: int) -> List[str]:
        middle = [rng.choice(others) for _ in range(max(turns - 2, 0))]
        return ([rng.choice(examples["greet"])] + middle + [rng.choice(examples["goodbye"])])[:turns]

    return conversation


# -- the two bots ------------------------------------------------------------------
def ensure_our_model(train: bool) -> None:
    """Train (or reuse) models/assistant.tar.gz the project's way."""
    if train:
        subprocess.run([sys.executable, "-m", "bot", "train"], cwd=PROJECT_ROOT, check=True)
    if not MODEL_PATH.exists():
        sys.exit(f"no model at {MODEL_PATH}: run `.venv/bin/python -m bot train`")


def prepare_platform_data(var_dir: Path) -> None:
    """The platform data our matching actions read, as `python -m bot run` has it: a
    copy of var/platform.db when it holds data, else the shipped demo import."""
    platform_db = get_settings().var_dir / "platform.db"
    if platform_db.exists() and platform_db.stat().st_size:
        shutil.copy2(platform_db, var_dir / "platform.db")
    subprocess.run(
        [sys.executable, "-c", "from bot.cli import prepare_data; prepare_data()"],
        cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL,
        env=child_environment({"CYBOT_VAR_DIR": str(var_dir)}),
    )


def start_ours(work_dir: Path) -> Stack:
    """Our Rasa server + action server via the project's launcher, in a temp var dir.

    The model is copied so that a retraining by someone else during the run does not
    swap it.
    """
    var_dir = work_dir / "ours-var"
    var_dir.mkdir()
    prepare_platform_data(var_dir)
    model = work_dir / "assistant.tar.gz"
    shutil.copy2(MODEL_PATH, model)
    config = StackConfig(
        var_dir=var_dir,
        rasa_port=free_port(),
        action_port=free_port(),
        web_port=free_port(),
        with_web=False,
        model_path=model,
    )
    return Stack(config).start()


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
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 240.0) -> "StockServer":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rasa", "run", "--model", "models",
             "--interface", "127.0.0.1", "--port", str(self.port),
             "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"],
            cwd=self.project, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stock rasa run exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"stock rasa run did not answer on {self.url}; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# -- measurement ---------------------------------------------------------------------
async def send(
    session: aiohttp.ClientSession, url: str, sender: str, text: str, result: PhaseResult
) -> List[dict]:
    """Send one message, record its reply time (or an error), return the replies."""
    started = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            replies = await response.json(content_type=None) if response.status == 200 else None
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError):
        replies = None
    elapsed = time.perf_counter() - started
    if not isinstance(replies, list):
        result.errors += 1
        return []
    result.latencies_s.append(elapsed)
    result.empty_replies += not replies
    return replies


async def run_users(
    bot: Bot, senders: Sequence[str], turns: int, seed: int, concurrent: bool,
    result: Optional[PhaseResult] = None,
) -> PhaseResult:
    """Each sender has one conversation of ``turns`` messages; senders run one after
    another (latency) or all at once (throughput). Adds to ``result`` when given."""
    result = result or PhaseResult(load_before=os.getloadavg()[0])
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def user(sender: str) -> None:
            # The conversation depends on the sender's position only, so both bots'
            # runs of a round have the same shape.
            for text in bot.conversation(random.Random(seed * 1000 + senders.index(sender)), turns):
                await send(session, bot.webhook_url, sender, text, result)

        started = time.perf_counter()
        if concurrent:
            await asyncio.gather(*(user(s) for s in senders))
        else:
            for sender in senders:
                await user(sender)
        result.elapsed_s += time.perf_counter() - started
    result.load_after = os.getloadavg()[0]
    return result


async def sanity_check(ours: Bot, stock: Bot) -> None:
    """Both bots must really answer before their speed means anything."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        probe = PhaseResult()
        replies = await send(session, ours.webhook_url, f"bench-sanity-{uuid.uuid4().hex}", OUR_SANITY_QUESTION, probe)
        if not any(OUR_SANITY_MARK in (r.get("text") or "") for r in replies):
            sys.exit(f"our assistant did not answer {OUR_SANITY_QUESTION!r} with a source: {replies}")
        replies = await send(session, stock.webhook_url, f"bench-sanity-{uuid.uuid4().hex}", "hi", probe)
        if not replies:
            sys.exit("the stock bot did not answer 'hi'")


@dataclass
class Plan:
    rounds: int
    latency_conversations: int
    throughput_users: int
    turns: int
    warmup_conversations: int


def measure(plan: Plan, bots: Sequence[Bot], run_id: str) -> Dict[str, List[dict]]:
    """Warm up, then measure in rounds, interleaving the bots finely so that machine
    noise hits both alike: the single-user conversations alternate bot by bot
    (A,B,B,A,…), the concurrent bursts alternate by round (A,B / B,A / …)."""
    for bot in bots:
        prefix = f"bench-{run_id}-{bot.name}-warmup"
        sequential = [f"{prefix}-seq-{i}" for i in range(plan.warmup_conversations)]
        asyncio.run(run_users(bot, sequential, plan.turns, seed=999, concurrent=False))
        concurrent = [f"{prefix}-user-{i}" for i in range(plan.throughput_users)]
        asyncio.run(run_users(bot, concurrent, WARMUP_CONCURRENT_TURNS, seed=998, concurrent=True))
    rounds: Dict[str, List[dict]] = {bot.name: [] for bot in bots}
    for number in range(plan.rounds):
        order = list(bots) if number % 2 == 0 else list(reversed(bots))
        latency = {bot.name: PhaseResult(load_before=os.getloadavg()[0]) for bot in bots}
        for index in range(plan.latency_conversations):
            for bot in order if index % 2 == 0 else reversed(order):
                sender = f"bench-{run_id}-{bot.name}-r{number}-seq-{index}"
                asyncio.run(run_users(bot, [sender], plan.turns, seed=number * 100 + index,
                                      concurrent=False, result=latency[bot.name]))
        for bot in order:
            senders = [f"bench-{run_id}-{bot.name}-r{number}-user-{i}" for i in range(plan.throughput_users)]
            load = asyncio.run(run_users(bot, senders, plan.turns, seed=10_000 + number, concurrent=True))
            single = latency[bot.name].summary()
            rounds[bot.name].append({"round": number, "latency": single, "concurrent": load.summary()})
            print(
                f"  round {number + 1}/{plan.rounds} {bot.name:5}: "
                f"1 user median {single['median_ms']:.0f} ms, p95 {single['p95_ms']:.0f} ms; "
                f"{load.summary()['throughput_msg_s']:.1f} msg/s with {plan.throughput_users} users "
                f"(load {single['load1_before']:.2f}→{load.load_after:.2f}; "
                f"failed {single['errors'] + load.errors})",
                flush=True,
            )
    return rounds


def summarise(rounds: Dict[str, List[dict]]) -> Dict[str, Dict[str, float]]:
    """Median over rounds of each round's figure."""
    def med(name: str, phase: str, key: str) -> float:
        return statistics.median(r[phase][key] for r in rounds[name])

    return {
        name: {
            "latency_median_ms": med(name, "latency", "median_ms"),
            "latency_p95_ms": med(name, "latency", "p95_ms"),
            "throughput_msg_s": med(name, "concurrent", "throughput_msg_s"),
            "concurrent_median_ms": med(name, "concurrent", "median_ms"),
            "errors": sum(r[p]["errors"] for r in rounds[name] for p in ("latency", "concurrent")),
        }
        for name in rounds
    }


def report(summary: Dict[str, Dict[str, float]], plan: Plan) -> Dict[str, dict]:
    ours, stock = summary["ours"], summary["stock"]
    ratios = {
        "latency_median": ours["latency_median_ms"] / stock["latency_median_ms"],
        "latency_p95": ours["latency_p95_ms"] / stock["latency_p95_ms"],
        "throughput": ours["throughput_msg_s"] / stock["throughput_msg_s"],
    }
    goals = {
        "latency_median": ratios["latency_median"] <= LATENCY_RATIO_GOAL,
        "latency_p95": ratios["latency_p95"] <= LATENCY_RATIO_GOAL,
        "throughput": ratios["throughput"] >= THROUGHPUT_RATIO_GOAL,
    }

    def verdict(key: str) -> str:
        return "met" if goals[key] else "NOT met"

    users = plan.throughput_users
    print()
    print("| | ours | stock `rasa init` | ours/stock | goal |")
    print("|---|---:|---:|---:|---|")
    print(f"| reply latency, 1 user, median | {ours['latency_median_ms']:.0f} ms | {stock['latency_median_ms']:.0f} ms "
          f"| {ratios['latency_median']:.2f} | ≤ {LATENCY_RATIO_GOAL}: {verdict('latency_median')} |")
    print(f"| reply latency, 1 user, p95 | {ours['latency_p95_ms']:.0f} ms | {stock['latency_p95_ms']:.0f} ms "
          f"| {ratios['latency_p95']:.2f} | ≤ {LATENCY_RATIO_GOAL}: {verdict('latency_p95')} |")
    print(f"| throughput, {users} users | {ours['throughput_msg_s']:.1f} msg/s | {stock['throughput_msg_s']:.1f} msg/s "
          f"| {ratios['throughput']:.2f} | ≥ {THROUGHPUT_RATIO_GOAL}: {verdict('throughput')} |")
    print(f"| (reply latency, {users} users, median) | {ours['concurrent_median_ms']:.0f} ms "
          f"| {stock['concurrent_median_ms']:.0f} ms "
          f"| {ours['concurrent_median_ms'] / stock['concurrent_median_ms']:.2f} | |")
    print(f"| failed requests | {ours['errors']} | {stock['errors']} | | |")
    return {"ratios": ratios, "goals_met": goals}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: 1 round, fewer messages")
    parser.add_argument("--rounds", type=int, help="rounds per bot (default 3; quick 1)")
    parser.add_argument("--turns", type=int, default=25, help="messages per conversation (default 25)")
    parser.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument("--latency-messages", type=int, help="sequential messages per round (default 200; quick 50)")
    parser.add_argument("--no-train", action="store_true", help="use models/assistant.tar.gz as it is")
    args = parser.parse_args(argv)

    turns = args.turns if not args.quick else min(args.turns, 10)
    latency_messages = args.latency_messages or (50 if args.quick else 200)
    plan = Plan(
        rounds=args.rounds or (1 if args.quick else 3),
        latency_conversations=max(1, latency_messages // turns),
        throughput_users=args.users,
        turns=turns,
        warmup_conversations=1 if args.quick else 2,
    )
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    ensure_our_model(train=not args.no_train)
    stock_dir = stock_project()
    run_id = uuid.uuid4().hex[:8]
    started_at = datetime.now(timezone.utc)
    load_at_start = os.getloadavg()
    print(f"load average at start: {load_at_start[0]:.2f} {load_at_start[1]:.2f} {load_at_start[2]:.2f} "
          f"on {os.cpu_count()} cores", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-reply-") as tmp:
        work_dir = Path(tmp)
        stack: Optional[Stack] = None
        stock = StockServer(stock_dir, work_dir / "stock-rasa.log")
        try:
            print("starting our assistant (launcher) and the stock bot …", flush=True)
            stack = start_ours(work_dir)
            stock.start()
            bots = [
                Bot("ours", f"{stack.rasa_url}/webhooks/rest/webhook", our_conversation),
                Bot("stock", f"{stock.url}/webhooks/rest/webhook", stock_conversation_factory(stock_dir)),
            ]
            asyncio.run(sanity_check(*bots))
            print(f"measuring: {plan}", flush=True)
            rounds = measure(plan, bots, run_id)
        except (StackError, RuntimeError):
            for log in sorted(work_dir.rglob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- last lines of {log.name} ---\n" + "\n".join(tail))
            raise
        finally:
            stock.stop()
            if stack:
                stack.stop()

    summary = summarise(rounds)
    verdicts = report(summary, plan)
    load_at_end = os.getloadavg()
    arguments = argv if argv is not None else sys.argv[1:]
    command = " ".join([".venv/bin/python bench/bench_reply_latency.py", *arguments]).strip()
    record = {
        "benchmark": "reply_latency",
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "rasa": RASA_VERSION,
            "load_average_start": load_at_start,
            "load_average_end": load_at_end,
        },
        "plan": asdict(plan),
        "summary": summary,
        **verdicts,
        "rounds": rounds,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"reply_latency_{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    print(f"\nload average at end: {load_at_end[0]:.2f}; results: {out.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
