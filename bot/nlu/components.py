"""What the NLU components of ours have in common.

:class:`StatelessComponent` is a Rasa graph component with no configuration and nothing
trained or stored. :class:`IntentOverride` is one that sets a message's intent, with full
confidence, when the words of the message leave no doubt about it (whatever the intent
classifier read); a subclass says how in :meth:`IntentOverride.stated_intent`.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
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


class StatelessComponent(GraphComponent):
    """A graph component without configuration or trained state."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        return cls()


class IntentOverride(StatelessComponent):
    """Sets the intent :meth:`stated_intent` finds in a message's text, with confidence 1,
    at the top of the intent ranking; leaves every other message as it was read."""

    @abstractmethod
    def stated_intent(self, text: str) -> Optional[str]:
        """The intent ``text`` leaves no doubt about, or None."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            intent = self.stated_intent(text) if isinstance(text, str) else None
            if intent is None:
                continue
            stated = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            others = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
            message.set(INTENT, stated, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [stated, *others], add_to_output=True)
        return messages
