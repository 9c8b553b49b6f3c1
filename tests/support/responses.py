"""What the user sees of an action's messages: responses rendered from ``domain.yml``.

Actions send most messages by response name (``utter_message(response="utter_…",
var=…)``); Rasa fills the domain's template with the variables and the slots and adds
the buttons the action passed. :func:`rendered` does the same to the messages of a
``CollectingDispatcher``, so a test can assert the text a user reads.
"""
from __future__ import annotations

import copy
import functools
from typing import Any, Dict, List, Mapping, Optional

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain

from bot.settings import PROJECT_ROOT

#: Keys of a dispatcher message that are not template variables.
_MESSAGE_KEYS = {"text", "buttons", "elements", "custom", "template", "response", "image", "attachment"}


@functools.lru_cache(maxsize=1)
def _generator() -> TemplatedNaturalLanguageGenerator:
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    return TemplatedNaturalLanguageGenerator(domain.responses)


def rendered(
    messages: List[Dict[str, Any]], slots: Optional[Mapping[str, Any]] = None
) -> List[Dict[str, Any]]:
    """``messages`` as the user receives them (``text``, ``buttons``, ``custom``).

    Raises ``KeyError`` for a response the domain does not define.
    """
    shown = []
    for message in messages:
        name = message.get("response")
        if name:
            variables = {k: v for k, v in message.items() if k not in _MESSAGE_KEYS and v is not None}
            draft = _generator().generate_from_slots(name, dict(slots or {}), "rest", **variables)
            if draft is None:
                raise KeyError(f"the domain has no response {name!r}")
            draft = copy.deepcopy(draft)
        else:
            draft = {}
        if message.get("text"):
            draft["text"] = message["text"]
        if message.get("buttons"):
            draft["buttons"] = list(draft.get("buttons") or []) + list(message["buttons"])
        if message.get("custom"):
            draft["custom"] = message["custom"]
        shown.append({key: draft[key] for key in ("text", "buttons", "custom") if draft.get(key)})
    return shown


def rendered_text(messages: List[Dict[str, Any]], slots: Optional[Mapping[str, Any]] = None) -> str:
    """The texts of :func:`rendered` messages, one per line."""
    return "\n".join(m["text"] for m in rendered(messages, slots) if m.get("text"))
