"""Rasa NLU component that sets the intent of a request stated in so many words.

Placed after the intent classifiers: when :func:`bot.explicit_requests.explicit_intent`
finds one (「发布一个采购需求：…」 → ``publish_demand``), the intent becomes that one with
full confidence whatever DIET read, so the rule for it applies (the demand form). Any
other message is left as the classifiers read it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.explicit_requests import explicit_intent


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ExplicitRequestClassifier(GraphComponent):
    """Overrides the intent of a message that states its request in so many words."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ExplicitRequestClassifier":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            intent = explicit_intent(text) if isinstance(text, str) else None
            if intent is None:
                continue
            stated = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            others = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
            message.set(INTENT, stated, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [stated, *others], add_to_output=True)
        return messages
