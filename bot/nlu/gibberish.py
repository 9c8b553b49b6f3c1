"""Rasa NLU component that reads a message saying nothing as ``nlu_fallback``.

Placed after the intent classifier: when :func:`bot.gibberish.is_gibberish` finds no
word that could be a request (「asdkjh qwe」「的的的的」「！！！」「；。、」), the intent becomes
``nlu_fallback`` with full confidence whatever DIET guessed, so the fallback rule
answers "not understood" and counts the miss towards handing over to staff. Any other
message is left as the classifier read it.
"""
from __future__ import annotations

from typing import Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME

from bot.gibberish import is_gibberish
from bot.nlu.components import IntentOverride


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class GibberishClassifier(IntentOverride):
    """Overrides the intent of a message without a single word with ``nlu_fallback``."""

    def stated_intent(self, text: str) -> Optional[str]:
        # The normaliser before us turns punctuation and symbols at the ends into spaces:
        # a message left blank (「；‘。、，。、」) was nothing but punctuation. (Empty
        # messages never get here: the channels refuse them.)
        return DEFAULT_NLU_FALLBACK_INTENT_NAME if is_gibberish(text) or not text.strip() else None
