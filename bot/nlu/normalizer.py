"""Rasa NLU component that normalises Chinese text before tokenisation.

Place it first in ``config.yml``'s pipeline. It rewrites each message's text with
:func:`bot.textnorm.normalize_for_nlu`, which keeps the length of the text, so entity
annotations in the training data and entity offsets at inference stay valid.
"""
from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components import StatelessComponent
from bot.textnorm import MAX_MESSAGE_CHARS, normalize_for_nlu

INTENT_PAYLOAD_PREFIX = "/"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False
)
class ChineseTextNormalizer(StatelessComponent):
    """Traditional → simplified, full-width → half-width, edge noise → spaces."""

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or not text or text.startswith(INTENT_PAYLOAD_PREFIX):
            return  # button payloads (/intent{"entity": …}) are parsed later, verbatim
        message.set(TEXT, normalize_for_nlu(text[:MAX_MESSAGE_CHARS]))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages
