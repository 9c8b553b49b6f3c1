"""Background tasks that are never lost: referenced, their failures logged, cancelled
at shutdown.

``loop.create_task`` alone keeps only a weak reference: a task nobody holds can be
garbage-collected mid-way, its exception is reported (if at all) when it is collected,
and a server shutting down does not know to stop it. :class:`BackgroundTasks` holds
each task until it ends, logs a failure at once with the task's name, and on
:meth:`close` gives running tasks a moment to finish, then cancels the rest.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine, Set, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BackgroundTasks:
    """The running background tasks of one component (a channel, say)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: Set["asyncio.Task[Any]"] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str) -> "asyncio.Task[T]":
        """Run ``coroutine`` in the background on the running loop; return its task."""
        task = asyncio.get_running_loop().create_task(coroutine, name=f"{self.owner}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("background task %r failed", task.get_name(), exc_info=error)

    @property
    def running(self) -> int:
        """How many tasks have not finished yet."""
        return len(self._tasks)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Let running tasks finish for up to ``grace_seconds``, then cancel the rest."""
        pending = set(self._tasks)
        if pending and grace_seconds > 0:
            _, pending = await asyncio.wait(pending, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("%s: cancelled %d background task(s) at shutdown", self.owner, len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
