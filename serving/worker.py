"""Live scoring in a separate process, so it never holds the event loop's interpreter.

Scoring posted activity runs pandas, the contract check and DuckDB for hundreds of
milliseconds. In a thread of the serving process it would share the interpreter lock
with the event loop, and every snapshot answer waiting behind it would be late by up
to a switch interval each time the lock changes hands. A :class:`LiveWorker` runs it
in one child process instead: the event loop only pickles the request and awaits the
answer.

The child keeps the model of the last state it was sent. A task carries the state
only when it differs from the one sent before (tasks run in the order they were
submitted, by one process), so a reload costs one transfer of the model and requests
in flight still finish on the state they started with.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import multiprocessing
import os
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from serving.schemas import ActivityRequest
from serving.state import ServiceState, Snapshot

log = logging.getLogger(__name__)

CHILD_NICENESS = 10
"""How much lower the live scoring process's scheduling priority is."""

_state: ServiceState | None = None
"""In the child: the state whose model scores the tasks."""


class LiveWorkerLostError(RuntimeError):
    """The child process died; a new one is started for the next request."""


class LiveWorker:
    """One child process that scores posted activity for the event loop."""

    def __init__(self) -> None:
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.sent: ServiceState | None = None

    async def score(
        self, scorer: Any, state: ServiceState, request: ActivityRequest
    ) -> dict[str, Any]:
        """Score ``request`` with ``scorer(state, request)`` in the child.

        Raises
        ------
        LiveWorkerLostError
            The child died while scoring (it is replaced for the next request).
        """
        return await self.run(score_in_child, scorer, state, request)

    async def warm(self, state: ServiceState) -> None:
        """Start the child and score a made-up partner once with ``state``."""
        await self.run(warm_in_child, None, state, None)

    async def run(
        self, task: Any, scorer: Any, state: ServiceState, request: Any
    ) -> dict[str, Any]:
        """Submit ``task`` with the state attached when the child lacks it.

        Scoring has no side effects, so when the child is found dead (killed while
        idle, or while this task ran) the task is tried once more in a new child;
        a second loss is reported.
        """
        for attempt in range(2):
            pool = self.pool = self.pool or new_pool()
            sent = None if state is self.sent else slim(state)
            self.sent = state
            try:
                future = pool.submit(task, scorer, sent, request)
                # Shielded: a cancelled request still lets its task run, so the
                # state it carries reaches the child, as the next task assumes.
                result: dict[str, Any] = await asyncio.shield(
                    asyncio.wrap_future(future)
                )
            except BrokenProcessPool as exc:
                self.close()
                if attempt == 0:
                    log.warning("the live scoring process stopped; starting a new one")
                    continue
                raise LiveWorkerLostError(
                    "the live scoring process stopped; a new one starts with the "
                    "next request"
                ) from exc
            return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        """Stop the child once its current task ends; queued tasks are cancelled."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = None
        self.sent = None

    def stop(self) -> None:
        """Stop the child and wait until it has exited (the server is stopping).

        :meth:`close` alone does not wait, and a child left idle when the server
        process ends may outlive it.
        """
        pool, self.pool, self.sent = self.pool, None, None
        if pool is not None:
            # not after close(): a shutdown without waiting forgets the thread
            # that a waiting one would join
            pool.shutdown(wait=True, cancel_futures=True)


def new_pool() -> concurrent.futures.ProcessPoolExecutor:
    """A one-process pool started with ``spawn`` (safe beside the server's threads).

    The child runs at a lower scheduling priority (``nice`` +10): on a busy
    machine the serving process gets a CPU first, so snapshot answers are not
    queued behind a live scoring.
    """
    context = multiprocessing.get_context("spawn")
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=1,
        mp_context=context,
        initializer=os.nice,
        initargs=(CHILD_NICENESS,),
    )


def slim(state: ServiceState) -> ServiceState:
    """``state`` without its snapshot, which live scoring does not read."""
    empty = Snapshot(
        records={},
        as_of=state.snapshot.as_of,
        model_name=state.snapshot.model_name,
        model_version=state.snapshot.model_version,
        source=state.snapshot.source,
        timezone=state.snapshot.timezone,
    )
    return dataclasses.replace(state, snapshot=empty, score_prefix={}, model_json=b"")


def score_in_child(
    scorer: Any, state: ServiceState | None, request: ActivityRequest
) -> dict[str, Any]:
    """In the child: keep a newly sent state, then score the request with it."""
    current = _keep(state)
    if current is None:  # the parent always sends a state first
        raise RuntimeError("the live scoring process has no model yet")
    result: dict[str, Any] = scorer(current, request)
    return result


def warm_in_child(
    scorer: Any, state: ServiceState | None, request: Any
) -> dict[str, Any]:
    """In the child: keep the state and warm live scoring up with it."""
    from serving.live import warm_live_path

    current = _keep(state)
    if current is not None:
        warm_live_path(current)
    return {}


def _keep(state: ServiceState | None) -> ServiceState | None:
    """In the child: remember a newly sent state; the state to work with."""
    global _state
    if state is not None:
        _state = state
    return _state
