"""Handoff to a person: the user asks, the assistant fails twice, or an action fails.

:func:`start_handoff` is the one way in (the fallback action calls it on the second
miss in a row; :func:`handoff_on_failure` calls it when an action raises). It puts the
conversation in the staff queue (:mod:`bot.handoff.store`), tells the user their place
in the queue, or, outside office hours, that the request is kept and when it will be
answered, and pauses the assistant (``ConversationPaused``) while staff are on duty:
from then on Rasa only logs the user's messages (the console shows each one) until
the console resumes it, with every slot as it was.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from typing import Any, Awaitable, Callable, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from bot.handoff.assignment import team_for
from bot.handoff.officehours import OfficeHours
from bot.handoff.store import HandoffStore, shared_store
from bot.language import tracker_language
from bot.settings import get_settings

logger = logging.getLogger(__name__)

REASON_USER_REQUEST = "user_request"
REASON_FALLBACK = "fallback"
REASON_ACTION_ERROR = "action_error"

def handoff_store() -> HandoffStore:
    """The handoff store of the configured database (one per process)."""
    return shared_store()


def office_hours() -> OfficeHours:
    """The configured office hours (``HANDOFF_OFFICE_HOURS``, ``HANDOFF_TIMEZONE``)."""
    settings = get_settings()
    return OfficeHours.parse(settings.office_hours, settings.office_timezone)


def _queue_for_staff(sender_id: str, reason: str, open_now: bool, channel: Any, team: Any = None) -> Any:
    """The blocking part of a handoff (database): run in a worker thread."""
    return handoff_store().request_handoff(sender_id, reason, in_office_hours=open_now, channel=channel, team=team)


async def start_handoff(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str = REASON_USER_REQUEST
) -> List[Dict[Text, Any]]:
    """Queue the conversation for staff, tell the user, and return the events to
    return from the calling action (``ConversationPaused`` while staff are on duty).

    ``reason`` is one of ``user_request``, ``fallback``, ``action_error``; it decides
    the first sentence and is shown to staff and in the supervisor figures.
    """
    hours = office_hours()
    open_now = hours.is_open()
    try:
        handoff, position = await asyncio.to_thread(
            _queue_for_staff,
            tracker.sender_id,
            reason,
            open_now,
            tracker.get_latest_input_channel(),
            team_for(tracker.events, tracker.slots),
        )
    except Exception:
        logger.exception("could not queue %s for staff", tracker.sender_id)
        dispatcher.utter_message(response="utter_handoff_unavailable")
        return []
    if reason == REASON_FALLBACK:
        dispatcher.utter_message(response="utter_handoff_intro_fallback")
    elif reason == REASON_ACTION_ERROR:
        dispatcher.utter_message(response="utter_handoff_intro_error")
    if not open_now:
        dispatcher.utter_message(
            response="utter_handoff_after_hours",
            office_hours=hours.describe(tracker_language(tracker)),
            next_opening=hours.format_opening(hours.next_opening(), tracker_language(tracker)),
        )
        return []
    if handoff["status"] == "active":
        dispatcher.utter_message(response="utter_handoff_with_staff")
    else:
        dispatcher.utter_message(response="utter_handoff_queued", position=position)
    return [ConversationPaused()]


RunMethod = Callable[[Any, CollectingDispatcher, Tracker, Dict[Text, Any]], Any]


def handoff_on_failure(run: RunMethod) -> Callable[..., Awaitable[List[Dict[Text, Any]]]]:
    """Decorate an action's ``run`` so that an exception hands the user to staff
    (with an apology) instead of leaving them without an answer.

    Works for plain and ``async`` ``run`` methods; whatever the failed action had
    already said is withdrawn, since it may be half an answer.
    """

    @functools.wraps(run)
    async def guarded(
        self: Action, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        already_said = len(dispatcher.messages)
        try:
            result = run(self, dispatcher, tracker, domain)
            if inspect.isawaitable(result):
                result = await result
            return result
        except Exception:
            logger.exception("action %s failed for %s; handing over to staff", self.name(), tracker.sender_id)
            del dispatcher.messages[already_said:]
            return await start_handoff(dispatcher, tracker, REASON_ACTION_ERROR)

    return guarded


class ActionHandoffRequest(Action):
    """The user asked for a person (intent ``request_human``)."""

    def name(self) -> Text:
        return "action_handoff_request"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        return await start_handoff(dispatcher, tracker, REASON_USER_REQUEST)
