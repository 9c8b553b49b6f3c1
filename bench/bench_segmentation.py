"""jieba over its own dicts ("stock") and over the compact dictionary (bot/segmentation.py).

    .venv/bin/python bench/bench_segmentation.py

Each figure comes from a fresh interpreter per mode (stock: jieba reads its dictionary
and ``jieba.posseg`` is imported before ``use_compact_dictionary``, which then keeps
them, as the code did before; compact: as the servers now start), with a cache folder
of its own:

- ``segment``: resident memory after segmenting and tagging one sentence;
- ``rasa``: the Rasa server's use (``load_userdict`` of ``lexicon/jieba``, ``tokenize``);
- ``actions``: every action module imported, the action server's start listeners run
  (platform index over the demo export, jieba set up), one supplier and one expert
  request answered;
- ``speed``: median CPU time per message of ``jieba.lcut`` and ``jieba.posseg.lcut``
  over the Chinese NLU examples (each message's best of 7 passes);
- ``start``: time to set up the tokenizer's and the tagger's tables (stock: read from jieba's
  own cache of its dictionary; compact: the cache file built, "cold", or mapped, "warm").

Resident memory is read from ``/proc/self/smaps_rollup`` (RSS; PSS counts the shared
pages of the mapped dictionary file by share).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "我们需要重庆的铝合金轮毂供应商，要有IATF 16949"
EXPERT_REQUEST = "我们是重庆大学的，需要五位智能制造方向的评审专家"


def memory() -> Dict[str, float]:
    figures = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        name, *value = line.split()
        if name in ("Rss:", "Pss:"):
            figures[name[:-1].lower()] = round(int(value[0]) / 1024, 1)
    return figures


def set_up(mode: str, tagger: bool = True) -> None:
    import jieba

    jieba.setLogLevel(60)
    if mode == "stock":
        jieba.initialize()
        if tagger:
            import jieba.posseg
    from bot.segmentation import use_compact_dictionary

    use_compact_dictionary(tagger=tagger)


def nlu_lines() -> List[str]:
    lines = []
    for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line.startswith("- ") and re.search(r"[\u4e00-\u9fff]", line):
                lines.append(line[2:])
    return lines


def child(kind: str, mode: str) -> Dict[str, Any]:
    import jieba

    if kind == "segment":
        set_up(mode)
        import jieba.posseg

        jieba.lcut(SENTENCE)
        jieba.posseg.lcut(SENTENCE)
        return memory()
    if kind == "rasa":
        set_up(mode, tagger=False)
        for path in sorted((PROJECT_ROOT / "lexicon" / "jieba").glob("*.txt")):
            jieba.load_userdict(str(path))
        list(jieba.tokenize(SENTENCE))
        return {**memory(), "jieba.posseg imported": "jieba.posseg" in sys.modules}
    if kind == "actions":
        return answer_requests(mode)
    if kind == "speed":
        set_up(mode)
        import jieba.posseg

        from bot.segmentation import domain_tagger

        domain_tagger()  # the domain dictionary
        lines = nlu_lines()
        figures: Dict[str, Any] = {"messages": len(lines)}
        for name, function in [("lcut", jieba.lcut), ("posseg", jieba.posseg.lcut)]:
            best = [float("inf")] * len(lines)
            for _ in range(7):
                for number, line in enumerate(lines):
                    started = time.thread_time()
                    function(line)
                    best[number] = min(best[number], time.thread_time() - started)
            figures[f"{name} median µs"] = round(statistics.median(best) * 1e6, 1)
        return figures
    if kind == "start":
        import bot.segmentation  # noqa: F401  (its imports are not the tables' set-up)

        started = time.perf_counter()
        set_up(mode)
        return {"seconds": round(time.perf_counter() - started, 3)}
    raise ValueError(kind)


def answer_requests(mode: str) -> Dict[str, Any]:
    import jieba

    jieba.setLogLevel(60)
    if mode == "stock":  # the code before read both when the actions were imported and used
        jieba.initialize()
        import jieba.posseg
    import pkgutil

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher
    from rasa_sdk.plugin import plugin_manager

    import actions

    for module in pkgutil.iter_modules(actions.__path__):
        importlib.import_module(f"actions.{module.name}")

    class App:  # stands in for the action server's Sanic app, as rasa_sdk's run() passes it
        def __init__(self) -> None:
            self.listeners: Dict[str, List[Any]] = {}

        def register_listener(self, listener: Any, event: str) -> None:
            self.listeners.setdefault(event, []).append(listener)

        def register_middleware(self, *args: Any) -> None:
            pass

    app = App()
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    for listener in app.listeners["before_server_start"]:
        if listener.__name__ in ("build_platform_index", "prepare_segmentation"):
            listener(None, None)
    from actions.matching import ActionFindExperts, ActionFindSuppliers

    requests = [(ActionFindSuppliers(), SENTENCE), (ActionFindExperts(), EXPERT_REQUEST)]
    for action, text in requests:
        tracker = Tracker("bench", {}, {"text": text, "intent": {"name": "", "confidence": 1.0}, "entities": []},
                          [], False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        asyncio.run(action.run(dispatcher, tracker, {}))
        assert dispatcher.messages
    return memory()


def run_child(kind: str, mode: str, environment: Dict[str, str]) -> Dict[str, Any]:
    result = subprocess.run([sys.executable, __file__, "--child", kind, mode], cwd=PROJECT_ROOT, env=environment,
                            capture_output=True, text=True, check=True, timeout=600)
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(PROJECT_ROOT))
        print(json.dumps(child(*args.child), ensure_ascii=False))
        return
    sys.path.insert(0, str(PROJECT_ROOT))
    from bot.platform.importer import import_export

    with tempfile.TemporaryDirectory(prefix="bench-segmentation-") as work:
        database = f"sqlite:///{Path(work) / 'platform.db'}"
        import_export(PROJECT_ROOT / "data_demo" / "platform-export", database)
        environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PLATFORM_DATABASE_URL": database}
        for mode in ("stock", "compact"):
            environment["CYBOT_VAR_DIR"] = str(Path(work) / mode)
            print(mode, "start (cold):", run_child("start", mode, environment), flush=True)
            print(mode, "start (warm):", run_child("start", mode, environment), flush=True)
            for kind in ("segment", "rasa", "actions", "speed"):
                print(mode, f"{kind}:", run_child(kind, mode, environment), flush=True)


if __name__ == "__main__":
    main()
