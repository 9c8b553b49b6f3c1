"""``python -m tests.support.model_loading <model> <rasa|ours>``: load the model the way
named and print, as JSON, what it predicts for the NLU examples (intent and confidence)
and what TED predicts after each of them (its probabilities), with the process's memory.

Run once per way, each in its own process, so that the two loads share nothing."""
from __future__ import annotations

import asyncio
import glob
import json
import os
import sys

from bot.settings import PROJECT_ROOT

EXAMPLES = 300


def resident_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def predictions(model: str) -> dict:
    from rasa.core.agent import Agent
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.training_data.loading import load_data

    agent = Agent.load(model)
    ted = next(
        node._component for name, node in agent.processor.graph_runner._instantiated_nodes.items()
        if name.startswith("run_TEDPolicy")
    )
    texts = [
        example.get("text")
        for path in sorted(glob.glob(str(PROJECT_ROOT / "data" / "nlu" / "**" / "*.yml"), recursive=True))
        for example in load_data(path).training_examples
    ][:EXAMPLES]
    intents, policy = [], []
    for number, text in enumerate(texts):
        parse = await agent.parse_message(text)
        intents.append([parse["intent"]["name"], parse["intent"]["confidence"]])
        tracker = DialogueStateTracker.from_events(
            f"u{number}",
            [ActionExecuted("action_listen"), UserUttered(text, parse["intent"], parse["entities"], parse)],
            slots=agent.domain.slots,
        )
        policy.append([float(p) for p in ted.predict_action_probabilities(tracker, agent.domain).probabilities])
    return {"intents": intents, "ted": policy, "resident_mb": resident_mb()}


def main() -> None:
    model, way = sys.argv[1], sys.argv[2]
    if way == "ours":
        from bot.rasa_server import load_models_for_prediction_only

        load_models_for_prediction_only()
    print(json.dumps(asyncio.run(predictions(model))))


if __name__ == "__main__":
    main()
