"""Messages the assistant could not handle.

The first is answered "not understood" (or "tell me what you are looking for" when a
refinement has nothing to refine); the second in a row is treated as a request for
help and hands the user to staff (with office hours and queue place). Every action
that gives up on a message calls :func:`cannot_handle`, so the count holds wherever
the conversation is: the fallback, a policy question that says nothing, a refinement
that changes nothing.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import REASON_FALLBACK, start_handoff

#: The ``unanswered`` slot's value for such a message (collected for staff in the console).
UNANSWERED_FALLBACK = "fallback"
NOT_UNDERSTOOD = "utter_not_understood"
NOTHING_TO_REFINE = "utter_nothing_to_refine"
#: Responses meaning "I could not handle that message".
CANNOT_HANDLE_RESPONSES = frozenset({NOT_UNDERSTOOD, NOTHING_TO_REFINE})


def misses_in_a_row(tracker: Tracker) -> int:
    """How many user messages in a row the assistant could not handle, this one included.

    An earlier message counts when the assistant answered it with one of
    :data:`CANNOT_HANDLE_RESPONSES`, whatever intent NLU guessed. Rasa records the
    response's name with each message (``metadata.utter_action``)."""
    turns: List[List[Dict[Text, Any]]] = []
    for event in tracker.events:
        if event.get("event") == "user":
            turns.append([])
        elif turns:
            turns[-1].append(event)
    misses = 1  # the message being handled now
    for events in reversed(turns[:-1]):
        if not any(_could_not_handle(event) for event in events):
            break
        misses += 1
    return misses


def _could_not_handle(event: Dict[Text, Any]) -> bool:
    response = (event.get("metadata") or {}).get("utter_action")
    return event.get("event") == "bot" and response in CANNOT_HANDLE_RESPONSES


async def cannot_handle(dispatcher: CollectingDispatcher, tracker: Tracker,
                        response: str = NOT_UNDERSTOOD,
                        buttons: Optional[List[Dict[str, Any]]] = None) -> List[Dict[Text, Any]]:
    """Say the message could not be handled (``response``: :data:`NOT_UNDERSTOOD` or
    :data:`NOTHING_TO_REFINE`), or hand over to staff when the previous message could not
    be handled either."""
    events: List[Dict[Text, Any]] = [SlotSet("unanswered", UNANSWERED_FALLBACK)]
    if misses_in_a_row(tracker) >= 2:
        return [*events, *await start_handoff(dispatcher, tracker, REASON_FALLBACK)]
    # Each response named literally, so that the data checks see that an action sends it.
    if response == NOTHING_TO_REFINE:
        dispatcher.utter_message(response="utter_nothing_to_refine", buttons=buttons)
    else:
        dispatcher.utter_message(response="utter_not_understood", buttons=buttons)
    return events
