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
in flight still finish on the state they started with. Every task also names the
state it expects by a sequence number; a child that holds another one (the task that
carried the state was cancelled before it ran: its client went away) says so, and
the task is sent again with its state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
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

_state_number = -1
"""In the child: the sequence number the parent gave :data:`_state`."""


class LiveWorkerLostError(RuntimeError):
    """The child process died; a new one is started for the next request."""


class StateNotHeldError(RuntimeError):
    """In the child: a task expects a state the child was never sent."""


class LiveWorker:
    """One child process that scores posted activity for the event loop."""

    def __init__(self) -> None:
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.sent: ServiceState | None = None
        self.sent_number = 0

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
        a second loss is reported. A task cancelled while it still waits for the
        child (its client went away) is taken off the queue.
        """
        lost = False
        while True:
            pool = self.pool = self.pool or new_pool()
            if state is not self.sent:
                self.sent, self.sent_number = state, self.sent_number + 1
                sent: ServiceState | None = slim(state)
            else:
                sent = None
            try:
                # a pool whose child died while idle refuses the task right here
                future = pool.submit(task, scorer, sent, self.sent_number, request)
                waiting = asyncio.wrap_future(future)
                # Shielded: a task the child has started runs to its end (its
                # result is dropped); one still queued is cancelled below.
                result: dict[str, Any] = await asyncio.shield(waiting)
            except asyncio.CancelledError:
                future.cancel()
                waiting.add_done_callback(
                    functools.partial(self.settle_abandoned, pool)
                )
                raise
            except StateNotHeldError:
                self.sent = None  # send the state again with the same task
                continue
            except BrokenProcessPool as exc:
                self.close()
                if not lost:
                    lost = True
                    log.warning("the live scoring process stopped; starting a new one")
                    continue
                raise LiveWorkerLostError(
                    "the live scoring process stopped; a new one starts with the "
                    "next request"
                ) from exc
            return result

    def settle_abandoned(
        self,
        pool: concurrent.futures.ProcessPoolExecutor,
        waiting: asyncio.Future[dict[str, Any]],
    ) -> None:
        """Read the outcome of a task nobody awaits any more.

        Its error (a contract error quoting posted values, say) would otherwise be
        logged by asyncio as never retrieved, with its traceback; a lost child is
        noted so the next task starts a new one.
        """
        if waiting.cancelled():
            return
        if isinstance(waiting.exception(), BrokenProcessPool) and self.pool is pool:
            self.close()

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
    scorer: Any, state: ServiceState | None, number: int, request: ActivityRequest
) -> dict[str, Any]:
    """In the child: keep a newly sent state, then score the request with it."""
    result: dict[str, Any] = scorer(_keep(state, number), request)
    return result


def warm_in_child(
    scorer: Any, state: ServiceState | None, number: int, request: Any
) -> dict[str, Any]:
    """In the child: keep the state and warm live scoring up with it."""
    from serving.live import warm_live_path

    warm_live_path(_keep(state, number))
    return {}


def _keep(state: ServiceState | None, number: int) -> ServiceState:
    """In the child: remember a newly sent state; the state numbered ``number``.

    Raises
    ------
    StateNotHeldError
        The child does not hold that state (the task that carried it never ran).
    """
    global _state, _state_number
    if state is not None:
        _state, _state_number = state, number
    if _state is None or _state_number != number:
        raise StateNotHeldError(
            f"the live scoring process holds state {_state_number}, not {number}"
        )
    return _state
