"""Scale-out: throughput and latency with 1 and 2 replicas of every process, and the CPU
each process spends per message.

Starts the production profile (PostgreSQL, Redis, RabbitMQ on this machine) with the
project's launcher behind nginx (:class:`bot.replicas.ReplicaStack`, what
``python -m bot run --profile production --replicas N`` starts), once with 1 and once
with 2 replicas, alternating the order over rounds. Each round sends ``--users``
concurrent REST users × ``--turns`` messages through the public entry (each user
waits for its reply) and reads every process's CPU time (``/proc``) before and after.

Reported per replica count (medians over rounds): messages/s, p50/p95 reply latency,
CPU seconds per message of each kind of process (Rasa, actions, gateway, nginx), and
the estimate of N replicas on N cores: N / (CPU seconds per message of one replica
set), the throughput if the servers' cores were the only limit.

Usage::

    .venv/bin/python bench/bench_scale.py               # 3 rounds (~15 min)
    .venv/bin/python bench/bench_scale.py --quick       # 1 round, fewer messages
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import httpx
import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bot.launcher import StackConfig, free_port  # noqa: E402
from bot.replicas import ReplicaStack  # noqa: E402
from bot.stats import percentile  # noqa: E402

QUESTIONS = [
    "双城经济圈发展基金规模多大",
    "川渝联合研发项目支持哪些领域",
    "你好",
    "专家库共享协议是什么时候签的？",
    "成渝地区双城经济圈有哪些合作项目？",
    "我们想了解研发费用补贴怎么申请",
    "谢谢",
]
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its waited-for children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def group_cpu(stack: ReplicaStack) -> Dict[str, float]:
    """CPU seconds per kind of process (every process of its session: nginx workers too)."""
    totals: Dict[str, float] = {}
    sessions = {process.pid: name.split("-")[0] for name, process in stack.processes.items()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            sid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if sid in sessions:
            kind = sessions[sid]
            totals[kind] = totals.get(kind, 0.0) + cpu_seconds(int(entry.name))
    return totals


async def load(base: str, users: int, turns: int) -> List[float]:
    latencies: List[float] = []

    async def user(index: int) -> None:
        sender = f"bench-scale-{uuid.uuid4().hex[:10]}"
        async with httpx.AsyncClient(timeout=120) as http:
            for turn in range(turns):
                started = time.perf_counter()
                response = await http.post(
                    f"{base}/webhooks/rest/webhook",
                    json={"sender": sender, "message": QUESTIONS[(index + turn) % len(QUESTIONS)]},
                )
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(user(i) for i in range(users)))
    return latencies


def measure(replicas: int, var_template: Path, users: int, turns: int) -> Dict[str, object]:
    run = uuid.uuid4().hex[:8]
    database = f"cybot_bench_{run}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {database}"))
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    shutil.copytree(var_template, work / "var", dirs_exist_ok=True)
    config = StackConfig(
        profile="production", var_dir=work / "var", web_port=free_port(),
        env={
            "TRACKER_DB_NAME": database,
            "HANDOFF_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
            "RABBITMQ_QUEUE": f"cybot_bench_{run}",
            "REDIS_KEY_PREFIX": f"cybotbench{run}",
        },
    )
    stack = ReplicaStack(config, replicas).start()
    try:
        asyncio.run(load(stack.public_url, users=max(4, users // 4), turns=3))  # warm-up
        before = group_cpu(stack)
        started = time.perf_counter()
        latencies = asyncio.run(load(stack.public_url, users, turns))
        elapsed = time.perf_counter() - started
        after = group_cpu(stack)
    finally:
        stack.stop()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)
    messages = len(latencies)
    cpu = {kind: (after.get(kind, 0.0) - before.get(kind, 0.0)) / messages for kind in after}
    return {
        "replicas": replicas,
        "messages": messages,
        "throughput": messages / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "cpu_s_per_message": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="1 round of 10 users × 8 messages")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.users, args.turns = 1, 10, 8

    from bot.cli import prepare_data
    from bot.launcher import MODEL_PATH

    if not MODEL_PATH.exists():
        sys.exit("no trained model: run python -m bot train")
    template = Path(tempfile.mkdtemp(prefix="bench-scale-var-"))
    os.environ["CYBOT_VAR_DIR"] = str(template)
    from bot.settings import reload_settings

    reload_settings()
    prepare_data()

    load_before = os.getloadavg()
    results: Dict[int, List[Dict[str, object]]] = {1: [], 2: []}
    for round_index in range(args.rounds):
        for replicas in ((1, 2) if round_index % 2 == 0 else (2, 1)):
            result = measure(replicas, template, args.users, args.turns)
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results[replicas].append(result)
    summary = {}
    for replicas, runs in results.items():
        kinds = sorted({kind for run in runs for kind in run["cpu_s_per_message"]})
        cpu = {
            kind: statistics.median(run["cpu_s_per_message"].get(kind, 0.0) for run in runs)
            for kind in kinds
        }
        summary[replicas] = {
            "throughput": statistics.median(run["throughput"] for run in runs),
            "p50_ms": statistics.median(run["p50_ms"] for run in runs),
            "p95_ms": statistics.median(run["p95_ms"] for run in runs),
            "cpu_s_per_message": cpu,
            "cpu_s_per_message_total": sum(cpu.values()),
        }
    per_message = summary[1]["cpu_s_per_message_total"]
    estimate = {f"{n} replicas on {n} cores": n / per_message for n in (1, 2, 4, 8)}
    report = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "users": args.users, "turns": args.turns, "rounds": args.rounds,
        "summary": summary,
        "ratio_2_over_1": summary[2]["throughput"] / summary[1]["throughput"],
        "estimate_messages_per_s": estimate,
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scale-{int(time.time())}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    shutil.rmtree(template, ignore_errors=True)


if __name__ == "__main__":
    main()
