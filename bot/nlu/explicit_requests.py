"""Rasa NLU component that sets the intent of a request stated in so many words.

Placed after the intent classifiers: when :func:`bot.explicit_requests.explicit_intent`
finds one (「发布一个采购需求：…」 → ``publish_demand``), the intent becomes that one with
full confidence whatever DIET read, so the rule for it applies (the demand form). Any
other message is left as the classifiers read it.
"""
from __future__ import annotations

from typing import Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.explicit_requests import explicit_intent
from bot.nlu.components import IntentOverride


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ExplicitRequestClassifier(IntentOverride):
    """Overrides the intent of a message that states its request in so many words."""

    def stated_intent(self, text: str) -> Optional[str]:
        return explicit_intent(text)
