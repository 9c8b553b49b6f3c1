"""Rasa NLU component that reads a message saying nothing as ``nlu_fallback``.

Placed after the intent classifier: when :func:`bot.gibberish.is_gibberish` finds no
word that could be a request (「asdkjh qwe」「的的的的」「！！！」「；。、」), the intent becomes
``nlu_fallback`` with full confidence whatever DIET guessed, so the fallback rule
answers "not understood" and counts the miss towards handing over to staff. Any other
message is left as the classifier read it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.gibberish import is_gibberish


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class GibberishClassifier(GraphComponent):
    """Overrides the intent of a message without a single word with ``nlu_fallback``."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "GibberishClassifier":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            # The normaliser before us turns punctuation and symbols at the ends into spaces:
            # a message left blank (「；‘。、，。、」) was nothing but punctuation. (Empty
            # messages never get here: the channels refuse them.)
            if not isinstance(text, str) or not (is_gibberish(text) or not text.strip()):
                continue
            fallback = {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [fallback, *(message.get(INTENT_RANKING_KEY) or [])]
            message.set(INTENT, fallback, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
