"""Benchmark of the platform data layer and matching.

    .venv/bin/python bench/bench_platform.py [--postgres URL] [--queries 300] [--repeat 3]

Measures, at the sample scale (the demo export) and at ten times that scale (a
synthetic export made from the sample by remapping ids):

* import throughput (rows/s) into a fresh database, and of re-importing the same export
  (nothing changes: the idempotency check) — median of ``--imports`` fresh databases;
* index build time (snapshot + vocabulary);
* matching latency, median and p95, over a few hundred varied supplier and expert
  requests (parse + match, as the actions run it).

SQLite always; PostgreSQL too when ``--postgres`` names a server URL (a scratch
database is created there and dropped). Results: printed as a Markdown table and
written to bench/results/platform.json.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import ContextManager, Dict, Iterator, List

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bot.platform.db import dispose_engine, scratch_postgres_database  # noqa: E402
from bot.platform.importer import EXPORT_FILES, import_export  # noqa: E402
from bot.platform.matching import PlatformIndex  # noqa: E402
from bot.stats import percentile  # noqa: E402

SAMPLE = PROJECT_ROOT / "data_demo" / "platform-export"
ID_COLUMNS = {"companies": ["company_id"], "products": ["product_id", "company_id"],
              "demands": ["demand_id", "company_id"], "experts": ["expert_id"]}


def scaled_export(target: Path, factor: int) -> Path:
    """Write ``factor`` copies of the sample with remapped ids (and distinct company names)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in EXPORT_FILES:
        with open(SAMPLE / f"{name}.csv", encoding="utf-8", newline="") as source:
            reader = csv.DictReader(source)
            rows = list(reader)
            header = reader.fieldnames
        with open(target / f"{name}.csv", "w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            for copy in range(factor):
                for row in rows:
                    row = dict(row)
                    for column in ID_COLUMNS[name]:
                        row[column] = f"{row[column][0]}{copy}{row[column][1:]}" if copy else row[column]
                    if name == "companies" and copy:
                        row["name"] = row["name"].replace("有限公司", f"第{copy}分公司有限公司", 1) \
                            if "有限公司" in row["name"] else f"{row['name']}（{copy}）"
                    writer.writerow(row)
    return target


def supplier_requests(index: PlatformIndex, count: int, rng: random.Random) -> List[str]:
    products = sorted(index.products_by_name)
    colloquial = ["轮圈", "刹车卡钳", "刹车盘", "电池包", "EPS", "PCB", "车规级芯片", "方向机", "避震器", "快充桩",
                  "电驱", "线路板", "液晶屏", "封测", "流片", "接插件", "大灯", "车机", "中控屏", "涡轮"]
    places = ["", "重庆的", "四川的", "成都", "璧山", "两江新区", "绵阳的", "江津区", "宜宾", "只要重庆的"]
    extras = ["", "，要有IATF 16949", "，有ISO 9001认证", "，年产能10万件以上", "，通过AEC-Q100", "，产能50万以上"]
    templates = ["我们需要{place}{product}供应商{extra}", "找做{product}的厂家{extra}，{place}",
                 "{place}有没有{product}企业{extra}", "求推荐{product}供应商{extra}", "{product} {place}{extra}"]
    return [rng.choice(templates).format(product=rng.choice(products + colloquial), place=rng.choice(places),
                                         extra=rng.choice(extras)) for _ in range(count)]


def expert_requests(index: PlatformIndex, count: int, rng: random.Random) -> List[str]:
    topics = sorted(set(index.expert_columns.bits["areas"]) | set(index.expert_columns.bits["fields"]))
    topics += ["AI", "大模型", "自动驾驶", "机器人", "芯片"]
    extras = ["", "，院士", "，国家杰青", "，正高职称", "，重庆的", "，成都的", "，教授", "，高校的"]
    owners = ["", "我们是重庆大学的，", "我是电子科大的，", "本单位四川大学，", "我们来自华西医院，"]
    sizes = ["", "5位", "3名", "10位", "两位"]
    templates = ["{owner}找{size}{topic}方向的专家{extra}", "{owner}需要{size}{topic}评审专家{extra}",
                 "{topic}专家{extra}"]
    return [rng.choice(templates).format(owner=rng.choice(owners), size=rng.choice(sizes), topic=rng.choice(topics),
                                         extra=rng.choice(extras)) for _ in range(count)]


def _percentiles(samples: List[float]) -> Dict[str, float]:
    return {"median_ms": statistics.median(samples), "p95_ms": percentile(samples, 95), "max_ms": max(samples)}


def latency(function, requests: List[str], repeat: int) -> Dict[str, object]:
    """Wall-clock and CPU time per request (the machine is shared: CPU time is the fair one)."""
    wall, cpu = [], []
    for _ in range(repeat):
        for text in requests:
            started, started_cpu = time.perf_counter(), time.process_time()
            function(text)
            cpu.append((time.process_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
    return {"n": len(wall), "wall": _percentiles(wall), "cpu": _percentiles(cpu)}


class SqliteDatabases:
    """Fresh SQLite files in a scratch folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextlib.contextmanager
    def fresh(self) -> Iterator[str]:
        url = f"sqlite:///{self.folder / f'{uuid.uuid4().hex[:8]}.db'}"
        try:
            yield url
        finally:
            dispose_engine(url)


class PostgresDatabases:
    """Scratch databases on a PostgreSQL server, dropped after use."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url

    def fresh(self) -> ContextManager[str]:
        return scratch_postgres_database(self.server_url, "cybot_bench_platform")


def measure(export: Path, databases, queries: int, repeat: int, imports: int) -> Dict[str, object]:
    """Median over ``imports`` fresh imports (+ re-imports); matching on the last database."""
    import_s, reimport_s, build_s, build_cpu_s = [], [], [], []
    result: Dict[str, object] = {}
    for attempt in range(imports):
        with databases.fresh() as url:
            first = import_export(export, url)
            again = import_export(export, url)
            assert not again.changed, "re-import changed data"
            import_s.append(first.seconds)
            reimport_s.append(again.seconds)
            started, started_cpu = time.perf_counter(), time.process_time()
            index = PlatformIndex.load(url)
            build_s.append(time.perf_counter() - started)
            build_cpu_s.append(time.process_time() - started_cpu)
            if queries and attempt == imports - 1:
                rng = random.Random(20261126)
                result["suppliers"] = latency(index.find_suppliers, supplier_requests(index, queries, rng), repeat)
                result["experts"] = latency(index.find_experts, expert_requests(index, queries, rng), repeat)
    rows = first.rows_read
    result.update({
        "rows": rows, "imports": imports,
        "import_s": statistics.median(import_s), "import_rows_per_s": rows / statistics.median(import_s),
        "reimport_s": statistics.median(reimport_s), "reimport_rows_per_s": rows / statistics.median(reimport_s),
        "index_build_s": statistics.median(build_s), "index_build_cpu_s": statistics.median(build_cpu_s),
    })
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="PostgreSQL server URL (a scratch database is created there)")
    parser.add_argument("--queries", type=int, default=300, help="requests of each kind per scale")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the requests")
    parser.add_argument("--factor", type=int, default=10, help="the larger scale, × sample")
    parser.add_argument("--imports", type=int, default=3, help="fresh imports per scale and database (median)")
    args = parser.parse_args()
    results: Dict[str, Dict[str, object]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cybot-bench-") as scratch:
        scratch_dir = Path(scratch)
        exports = {"1x": SAMPLE, f"{args.factor}x": scaled_export(scratch_dir / "scaled", args.factor)}
        backends = [("sqlite", SqliteDatabases(scratch_dir))]
        if args.postgres:
            backends.append(("postgresql", PostgresDatabases(args.postgres)))
        for scale, export in exports.items():
            for backend, databases in backends:
                print(f"{backend} {scale} …", file=sys.stderr, flush=True)
                queries = args.queries if backend == "sqlite" else 0  # matching never reads the database
                results[f"{backend} {scale}"] = measure(export, databases, queries, args.repeat, args.imports)
    results["machine"] = {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg()}
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "platform.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print("| database, scale | rows | import rows/s | re-import rows/s | index build s (CPU) "
          "| suppliers median / p95 ms (CPU) | experts median / p95 ms (CPU) |")
    print("|---|---|---|---|---|---|---|")

    def cell(measured) -> str:
        if not measured:
            return "–"
        wall, cpu = measured["wall"], measured["cpu"]
        return f"{wall['median_ms']:.1f} / {wall['p95_ms']:.1f} ({cpu['median_ms']:.1f} / {cpu['p95_ms']:.1f})"

    for key, r in results.items():
        if key == "machine":
            continue
        print(f"| {key} | {r['rows']:,} | {r['import_rows_per_s']:,.0f} | {r['reimport_rows_per_s']:,.0f} | "
              f"{r['index_build_s']:.1f} ({r['index_build_cpu_s']:.1f}) | {cell(r.get('suppliers'))} | "
              f"{cell(r.get('experts'))} |")
    machine = results["machine"]
    print(f"\n{machine['cpus']} CPUs; load average before {machine['load_before'][0]:.1f}, "
          f"after {machine['load_after'][0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
