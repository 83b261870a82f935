"""Daily event streams driven by the world: deals, interactions and portal views.

Partners are processed in chunks; within a chunk every rate is a (partners x days)
float32 matrix built from the partner's base rate, the calendar, its bursts, its
roster, its PSM's load and the severity of each decline stage. Poisson counts per
partner-day become events with a time of day; per-event attributes (rep, outcome,
response time ...) are drawn in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ghost_model.simulation.params import ASSETS, CHANNELS, SimulationParams
from ghost_model.simulation.world import (
    DIST,
    PRIO,
    SELL,
    Episodes,
    Partners,
    PsmBook,
    Reps,
    partner_load_ratio,
)

OUTCOME_CODES = ("won", "lost", "open")
STAGE_CODES = (
    "closed won",
    "closed lost",
    "proposal",
    "under consideration",
    "negotiation",
)
DIRECTION_CODES = ("inbound", "outbound")
KIND_CODES = ("question", "consultation", "report", "other")
CANDIDATES_PER_BATCH = 4_000_000
REJECTION_ROUNDS = 6


@dataclass
class World:
    """Everything the event streams need, plus the calendar multipliers."""

    partners: Partners
    book: PsmBook
    episodes: Episodes
    reps: Reps
    season: dict[str, np.ndarray]
    days: int
    params: SimulationParams


@dataclass
class Chunk:
    """The daily state matrices of a block of partners."""

    rows: np.ndarray
    alive: np.ndarray
    ramp: np.ndarray
    burst: np.ndarray
    severity: np.ndarray
    silent: np.ndarray
    roster: np.ndarray
    load: np.ndarray


def simulate_events(
    rng: np.random.Generator, world: World, rows: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """Draw the deals, interactions and portal views of the partners ``rows``."""
    chunk = _chunk_state(world, rows)
    return {
        "deals": _compact(_deals(rng, world, chunk)),
        "interactions": _compact(_interactions(rng, world, chunk)),
        "portal_views": _compact(_views(rng, world, chunk)),
    }


def _compact(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Indices as int32 and category codes as int8, to keep big runs in memory."""
    out = {}
    for key, values in arrays.items():
        if values.dtype.kind == "i":
            values = values.astype(np.int32 if key in ("partner", "rep") else np.int8)
        out[key] = values
    return out


def _chunk_state(world: World, rows: np.ndarray) -> Chunk:
    """Alive mask, ramp-up, bursts, stage severities, roster and PSM load per day."""
    n, days = world.partners.n, world.days
    day = np.arange(days, dtype=np.float32)[None, :]
    signed = world.partners.signed[rows, None]
    terminated = world.partners.terminated[rows, None]
    alive = (day >= np.ceil(signed)) & (day < np.floor(terminated))
    ramp = np.clip((day - signed) / 90.0, 0.15, 1.0).astype(np.float32)
    burst = world.partners.burst[rows][:, np.arange(days) // 7]

    eps = world.episodes
    ramp_days = np.float32(world.params.ramp_days)
    heal = 1.0 - np.clip((day - eps.recovery[rows, None]) / 60.0, 0.0, 1.0)
    severity = np.stack(
        [
            np.clip((day - eps.onset[rows, k, None]) / ramp_days, 0.0, 1.0) * heal
            for k in (SELL, DIST, PRIO)
        ]
    ).astype(np.float32)
    silent = day >= eps.silent[rows, None]

    row_of = np.full(n, -1)
    row_of[rows] = np.arange(len(rows))
    return Chunk(
        rows=rows,
        alive=alive,
        ramp=ramp,
        burst=burst,
        severity=severity,
        silent=silent,
        roster=_roster_multiplier(world, rows, row_of),
        load=partner_load_ratio(world.book, rows, days, row_of),
    )


def _roster_multiplier(
    world: World, rows: np.ndarray, row_of: np.ndarray
) -> np.ndarray:
    """How much of the partner's usual selling power is on the roster each day."""
    days, reps = world.days, world.reps
    pick = (row_of[reps.partner] >= 0) & (reps.weight > 0)
    lo = np.clip(np.ceil(reps.joined[pick]), 0, days).astype(np.int64)
    hi = np.clip(np.ceil(reps.left[pick]), 0, days).astype(np.int64)
    r = row_of[reps.partner[pick]]
    diff = np.zeros((len(rows), days + 1), dtype=np.float32)
    np.add.at(diff, (r, lo), reps.weight[pick])
    np.add.at(diff, (r, hi), -reps.weight[pick])
    power = np.cumsum(diff[:, :days], axis=1) / reps.nominal[rows, None]
    floor = world.params.roster_floor
    mult = floor + (1.0 - floor) * np.clip(power, 0.0, 2.0) ** 0.8
    out: np.ndarray = mult.astype(np.float32)
    return out


def _deals(rng: np.random.Generator, world: World, c: Chunk) -> dict[str, np.ndarray]:
    """Deal registrations and their pipeline: rep, close time, outcome, stage."""
    partners, days, p = world.partners, world.days, world.params
    s_sell, s_dist, s_prio = c.severity
    rate = (
        partners.deal_rate[c.rows, None].astype(np.float32)
        * _partner_season(world.season, partners.seasonality[c.rows])
        * c.burst
        * c.ramp
        * c.roster
        * (1.0 - p.deal_rate_drop[SELL] * s_sell)
        * (1.0 - p.deal_rate_drop[DIST] * s_dist)
        * (1.0 - p.deal_rate_drop[PRIO] * s_prio)
        * (c.alive & ~c.silent)
    )
    row, day = _poisson_events(rng, rate)
    at = day + _business_time(rng, len(day))
    partner = c.rows[row]
    sell, dist = s_sell[row, day], s_dist[row, day]

    win = partners.win_rate[partner] * (1.0 - p.win_rate_drop * sell)
    win *= 1.0 - 0.15 * dist
    stalls = rng.random(len(day)) < p.stall_share[0] + p.stall_share[1] * sell
    to_close = rng.lognormal(np.log(30.0 * (1.0 + p.close_time_growth * sell)), 0.6)
    closed = at + np.where(stalls, rng.uniform(150.0, 420.0, len(day)), to_close)
    closed = np.where(stalls & (rng.random(len(day)) < 0.6), np.inf, closed)
    ended = partners.terminated[partner]
    by_termination = closed > ended
    closed = np.where(by_termination, ended, closed)
    won = (rng.random(len(day)) < win) & ~stalls & ~by_termination
    is_open = closed >= days
    outcome = np.where(is_open, 2, np.where(won, 0, 1))
    stage = _deal_stage(rng, outcome, stalls, days - at)

    tier = partners.tier[partner]
    median = np.asarray(world.params.amount_median_jpy)[tier]
    amount = np.round(median * rng.lognormal(0.0, 0.9, len(day)), -3)
    product = rng.choice(5, size=len(day), p=[0.35, 0.2, 0.2, 0.15, 0.1])
    return {
        "partner": partner,
        "at": at,
        "rep": choose_reps(rng, world.reps, partner, at, world.reps.weight),
        "closed": np.where(is_open, np.nan, closed),
        "outcome": outcome,
        "stage": stage,
        "amount": amount,
        "product": product,
    }


def _partner_season(season: dict[str, np.ndarray], exponent: np.ndarray) -> np.ndarray:
    """The deal calendar per partner: its budget cycle sharpened, weekends quiet.

    The sharpened cycle keeps the partner's mean over the period.
    """
    sharp = np.power(season["budget"][None, :], exponent[:, None].astype(np.float32))
    out: np.ndarray = sharp / sharp.mean(axis=1, keepdims=True) * season["weekdays"]
    return out


def _deal_stage(
    rng: np.random.Generator, outcome: np.ndarray, stalls: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """CRM stage name codes: closed won/lost, or the step an open deal is at."""
    open_step = np.where(age < 14.0, 2, np.where(rng.random(len(age)) < 0.55, 3, 4))
    open_step = np.where(stalls, 3, open_step)
    return np.where(outcome == 0, 0, np.where(outcome == 1, 1, open_step))


def _interactions(
    rng: np.random.Generator, world: World, c: Chunk
) -> dict[str, np.ndarray]:
    """Inbound questions, consultations, reports and others; PSM outreach."""
    partners, p = world.partners, world.params
    s_sell, s_dist, s_prio = c.severity
    base = (
        partners.inbound_rate[c.rows, None].astype(np.float32)
        * world.season["interactions"][None, :]
        * np.sqrt(c.burst)
        * c.ramp
        * (1.0 - 0.3 * s_prio)
        * np.where(c.silent, 0.15, 1.0)
        * c.alive
    )
    kinds = [
        0.45 * (1.0 - p.question_drop * s_dist) * (1.0 + 0.3 * s_sell),
        0.30 * (1.0 - p.consultation_drop * s_dist),
        0.12 * (1.0 + p.report_growth * s_dist),
        0.13 * (1.0 - 0.3 * s_dist),
    ]
    parts = []
    for code, share in enumerate(kinds):
        row, day = _poisson_events(rng, base * share)
        parts.append(
            (row, day, np.zeros(len(row), dtype=np.int64), np.full(len(row), code))
        )
    out_rate = (
        partners.outbound_rate[c.rows, None].astype(np.float32)
        * world.season["interactions"][None, :]
        / np.sqrt(np.maximum(c.load, 0.3))
        * c.alive
    )
    row, day = _poisson_events(rng, out_rate)
    out_kind = rng.choice(4, size=len(row), p=[0.1, 0.25, 0.25, 0.4])
    parts.append((row, day, np.ones(len(row), dtype=np.int64), out_kind))

    row, day, direction, kind = (
        np.concatenate([part[i] for part in parts]) for i in range(4)
    )
    at = day + _business_time(rng, len(day))
    partner = c.rows[row]
    responded = _responses(rng, world, c, (row, day, direction, kind), at)
    everyone = np.where(world.reps.weight > 0, world.reps.weight, 0.4)
    return {
        "partner": partner,
        "at": at,
        "rep": choose_reps(rng, world.reps, partner, at, everyone),
        "direction": direction,
        "kind": kind,
        "channel": rng.choice(
            len(CHANNELS), size=len(day), p=[0.5, 0.2, 0.15, 0.1, 0.05]
        ),
        "responded": responded,
    }


def _responses(
    rng: np.random.Generator,
    world: World,
    c: Chunk,
    where: tuple[np.ndarray, ...],
    at: np.ndarray,
) -> np.ndarray:
    """Response times: the PSM answers slower when overloaded or drifting away.

    ``where`` holds each interaction's chunk row, day, direction and kind code.
    Inbound questions and consultations are answered by the PSM (reports and others
    mostly need no answer); outbound messages are answered by the partner.
    """
    row, day, direction, kind = where
    median = world.params.response_median_hours
    load = c.load[row, day].astype(float)
    dist = c.severity[DIST][row, day].astype(float)
    silent = c.silent[row, day]
    n = len(day)
    growth = world.params.response_growth
    vendor_hours = median * np.maximum(load, 0.3) ** 1.6 * (1.0 + growth * dist)
    vendor_hours *= rng.lognormal(0.0, 0.8, n)
    unanswered = 0.02 + 0.1 * np.clip(load - 1.0, 0.0, 2.0) + 0.25 * dist
    unanswered = np.where(kind >= 2, 0.7, unanswered)
    partner_hours = 20.0 * (1.0 + 2.0 * dist) * rng.lognormal(0.0, 0.9, n)
    no_reply = np.where(silent, 0.85, 0.3 + 0.4 * dist)
    inbound = direction == 0
    hours = np.where(inbound, vendor_hours, partner_hours)
    missing = rng.random(n) < np.where(inbound, unanswered, no_reply)
    responded = at + hours / 24.0
    return np.where(missing | (responded >= world.days), np.nan, responded)


def _views(rng: np.random.Generator, world: World, c: Chunk) -> dict[str, np.ndarray]:
    """Portal and shared-sheet views by the partner's reps."""
    p = world.params
    s_sell, s_dist, s_prio = c.severity
    rate = (
        world.partners.view_rate[c.rows, None].astype(np.float32)
        * world.season["views"][None, :]
        * c.burst**0.4
        * c.ramp
        * (1.0 - p.view_drop * s_dist)
        * (1.0 - 0.25 * s_sell)
        * (1.0 - 0.3 * s_prio)
        * np.where(c.silent, 0.1, 1.0)
        * c.alive
    )
    row, day = _poisson_events(rng, rate)
    at = day + np.clip(rng.normal(13.0, 3.5, len(day)), 0.0, 23.99) / 24.0
    partner = c.rows[row]
    everyone = np.where(world.reps.weight > 0, world.reps.weight, 0.5)
    return {
        "partner": partner,
        "at": at,
        "rep": choose_reps(rng, world.reps, partner, at, everyone),
        "asset": rng.choice(
            len(ASSETS), size=len(day), p=[0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1]
        ),
    }


def _poisson_events(
    rng: np.random.Generator, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(row, day) of every event of a Poisson count per partner-day."""
    counts = rng.poisson(rate)
    row, day = np.nonzero(counts)
    times = counts[row, day]
    return np.repeat(row, times), np.repeat(day, times)


def _business_time(rng: np.random.Generator, n: int) -> np.ndarray:
    """Time of day (fraction) around Japanese office hours (08:30 - 20:30)."""
    hours = rng.normal(14.0, 2.5, n)
    outside = (hours < 8.5) | (hours > 20.5)
    hours[outside] = rng.uniform(9.0, 18.0, int(outside.sum()))
    out: np.ndarray = hours / 24.0
    return out


def choose_reps(
    rng: np.random.Generator,
    reps: Reps,
    partner: np.ndarray,
    at: np.ndarray,
    weight: np.ndarray,
) -> np.ndarray:
    """For each event, a rep of its partner on the roster at ``at``, by weight.

    Returns the rep index, or -1 when no rep with a positive weight is on the roster.
    A few rounds of rejection sampling (draw any of the partner's reps by weight,
    keep it when on the roster) settle most events cheaply; the rest go through the
    Gumbel-max trick over all of their partner's reps, in batches to bound memory.
    """
    out = np.full(len(partner), -1, dtype=np.int64)
    lo, hi = reps.first[partner], reps.first[partner + 1]
    cum = np.concatenate([[0.0], np.cumsum(np.where(weight > 0, weight, 0.0))])
    todo = np.flatnonzero(cum[hi] > cum[lo])
    for _ in range(REJECTION_ROUNDS):
        if len(todo) == 0:
            return out
        u = cum[lo[todo]] + rng.random(len(todo)) * (cum[hi[todo]] - cum[lo[todo]])
        cand = np.clip(
            np.searchsorted(cum, u, side="right") - 1, lo[todo], hi[todo] - 1
        )
        t = at[todo]
        ok = (reps.joined[cand] <= t) & (reps.left[cand] > t) & (weight[cand] > 0)
        out[todo[ok]] = cand[ok]
        todo = todo[~ok]
    width = hi[todo] - lo[todo]
    ends = np.cumsum(width)
    log_w = np.log(np.where(weight > 0, weight, 1.0))
    start = 0
    while start < len(todo):
        limit = ends[start] - width[start] + CANDIDATES_PER_BATCH
        stop = max(int(np.searchsorted(ends, limit)), start + 1)
        part = todo[start:stop]
        out[part] = _choose_batch(
            rng, reps, lo[part], hi[part] - lo[part], at[part], weight, log_w
        )
        start = stop
    return out


def _choose_batch(
    rng: np.random.Generator,
    reps: Reps,
    lo: np.ndarray,
    width: np.ndarray,
    at: np.ndarray,
    weight: np.ndarray,
    log_w: np.ndarray,
) -> np.ndarray:
    """Gumbel-max choice for one batch of events (-1 where none is usable)."""
    out = np.full(len(lo), -1, dtype=np.int64)
    total = int(width.sum())
    if total == 0:
        return out
    event = np.repeat(np.arange(len(lo)), width)
    offset = np.arange(total) - np.repeat(np.cumsum(width) - width, width)
    cand = lo[event] + offset
    usable = (
        (reps.joined[cand] <= at[event])
        & (reps.left[cand] > at[event])
        & (weight[cand] > 0)
    )
    score = np.where(usable, log_w[cand] + rng.gumbel(size=total), -np.inf)
    starts = np.cumsum(width) - width
    has = width > 0
    best_score = np.full(len(lo), -np.inf)
    best_score[has] = np.maximum.reduceat(score, starts[has])
    is_best = (score == best_score[event]) & np.isfinite(score)
    hit = np.flatnonzero(is_best)
    first = np.ones(len(hit), dtype=bool)
    first[1:] = event[hit][1:] != event[hit][:-1]
    out[event[hit[first]]] = cand[hit[first]]
    return out
