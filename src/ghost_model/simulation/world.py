"""The slow-moving world: partners, PSM books, decline episodes and rep rosters.

Times are float days since the first simulated local midnight (negative = before the
simulated period); ``inf`` means "not within the period". Everything here is drawn
per partner, per PSM or per rep with vectorised numpy; the daily event streams that
this world drives live in :mod:`ghost_model.simulation.events`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ghost_model.simulation.params import SimulationParams

INF = np.inf
SELL, DIST, PRIO = 0, 1, 2
MAX_REPS_PER_SLOT = 8
HISTORY_DAYS = 2400.0


@dataclass
class Partners:
    """Per-partner attributes (arrays of length ``n``)."""

    tier: np.ndarray
    region: np.ndarray
    signed: np.ndarray
    terminated: np.ndarray
    deal_rate: np.ndarray
    win_rate: np.ndarray
    inbound_rate: np.ndarray
    outbound_rate: np.ndarray
    view_rate: np.ndarray
    slots: np.ndarray
    seasonality: np.ndarray
    burst: np.ndarray

    @property
    def n(self) -> int:
        return len(self.tier)


@dataclass
class PsmBook:
    """PSM staff, the assignment segments and the daily load of every PSM."""

    hired: np.ndarray
    left: np.ndarray
    seg_partner: np.ndarray
    seg_psm: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_is_change: np.ndarray
    load_ratio: np.ndarray
    nominal: float


@dataclass
class Episodes:
    """One decline episode per partner at most (``start`` is inf without one)."""

    start: np.ndarray
    root: np.ndarray
    onset: np.ndarray
    silent: np.ndarray
    recovery: np.ndarray


@dataclass
class Reps:
    """The partner reps, sorted by partner, with their selling weight (0 = never)."""

    partner: np.ndarray
    joined: np.ndarray
    left: np.ndarray
    weight: np.ndarray
    nominal: np.ndarray
    first: np.ndarray
    """Per partner (length n + 1): its reps are ``first[p]:first[p + 1]``."""


def draw_partners(
    rng: np.random.Generator, n: int, days: int, p: SimulationParams
) -> Partners:
    """Draw tiers, regions, sizes, signing dates and base activity of ``n`` partners."""
    tier = rng.choice(len(p.tier_shares), size=n, p=_norm(p.tier_shares))
    region = rng.choice(len(p.region_shares), size=n, p=_norm(p.region_shares))
    during = rng.random(n) < p.signed_during_share
    signed = np.where(
        during,
        rng.uniform(0.0, 0.8 * days, n),
        -rng.uniform(60.0, HISTORY_DAYS, n),
    )
    signed = np.floor(signed) + rng.uniform(0.38, 0.7, n)

    activity = rng.lognormal(0.0, p.deal_rate_sigma, n)
    engagement = rng.lognormal(0.0, 0.35, n) * activity**0.6
    per_day = 1.0 / 30.44
    deal_rate = np.asarray(p.deals_per_month)[tier] * activity * per_day
    slots = 1 + rng.poisson(np.asarray(p.rep_slots_mean)[tier] - 1.0 + 1e-9)
    weeks = days // 7 + 2
    return Partners(
        tier=tier,
        region=region,
        signed=signed,
        terminated=np.full(n, INF),
        deal_rate=deal_rate,
        win_rate=np.clip(
            np.asarray(p.win_rate)[tier] + rng.normal(0.0, 0.08, n), 0.1, 0.8
        ),
        inbound_rate=np.asarray(p.inbound_per_month)[tier] * engagement * per_day,
        outbound_rate=np.asarray(p.outbound_per_month)[tier]
        * rng.lognormal(0.0, 0.3, n)
        * per_day,
        view_rate=np.asarray(p.views_per_month)[tier] * engagement * per_day,
        slots=slots,
        seasonality=np.where(
            rng.random(n) < p.budget_cycle_share, p.budget_cycle_exponent, 1.0
        ),
        burst=_burst(rng, n, weeks, np.asarray(p.burst_sd)[tier], p.burst_phi),
    )


def _burst(
    rng: np.random.Generator, n: int, weeks: int, sd: np.ndarray, phi: float
) -> np.ndarray:
    """Weekly multiplicative activity (mean one): a log-normal AR(1) per partner."""
    innov = rng.normal(0.0, 1.0, (n, weeks)).astype(np.float32)
    scale = (sd * np.sqrt(1.0 - phi**2)).astype(np.float32)[:, None]
    x = np.empty((n, weeks), dtype=np.float32)
    x[:, 0] = innov[:, 0] * sd
    for w in range(1, weeks):
        x[:, w] = phi * x[:, w - 1] + scale[:, 0] * innov[:, w]
    return np.exp(x - (sd.astype(np.float32)[:, None] ** 2) / 2.0)


def draw_psm_book(
    rng: np.random.Generator,
    partners: Partners,
    days: int,
    april_days: np.ndarray,
    p: SimulationParams,
) -> PsmBook:
    """Hire PSMs, assign partners, reshuffle and reassign, and count daily loads.

    PSMs leave (their book is spread over the others, whose load jumps) and are
    replaced a few weeks later; single partners move between PSMs now and then;
    every April some partners are rotated to a new PSM.
    """
    n = partners.n
    first = max(2, round(n / p.partners_per_psm))
    first_left = np.where(
        rng.random(first) < 0.5,
        rng.exponential(p.psm_tenure_days, first),
        INF,
    )
    first_left = np.where(first_left < days, np.floor(first_left) + 0.7, INF)
    leaving = np.flatnonzero(np.isfinite(first_left))
    hired = np.concatenate(
        [
            np.full(first, -HISTORY_DAYS),
            first_left[leaving] + rng.uniform(14.0, 45.0, len(leaving)),
        ]
    )
    left = np.concatenate([first_left, np.full(len(leaving), INF)])
    capacity = rng.lognormal(0.0, p.psm_capacity_sigma, len(hired))

    changes = _partner_change_times(rng, partners, days, april_days, p)
    start = np.where(
        partners.signed < 0,
        np.maximum(partners.signed, -rng.uniform(0.0, 720.0, n)),
        partners.signed,
    )
    current = _pick_psm(rng, start, np.full(n, -1), hired, left, capacity)
    segments = _walk_segments(
        rng, partners, days, changes, start, current, hired, left, capacity
    )
    load_ratio = _load_ratio(segments, len(hired), partners, days, n / first)
    return PsmBook(
        hired=hired,
        left=left,
        seg_partner=segments[0],
        seg_psm=segments[1],
        seg_start=segments[2],
        seg_end=segments[3],
        seg_is_change=segments[4],
        load_ratio=load_ratio,
        nominal=n / first,
    )


def end_book_at_terminations(book: PsmBook, partners: Partners, days: int) -> PsmBook:
    """Close assignments at a partner's termination and recount the PSM loads."""
    ended = partners.terminated[book.seg_partner]
    keep = book.seg_start < ended
    seg_end = np.where(
        book.seg_end[keep] > ended[keep], ended[keep], book.seg_end[keep]
    )
    segments = (
        book.seg_partner[keep],
        book.seg_psm[keep],
        book.seg_start[keep],
        seg_end,
        book.seg_is_change[keep],
    )
    return PsmBook(
        hired=book.hired,
        left=book.left,
        seg_partner=segments[0],
        seg_psm=segments[1],
        seg_start=segments[2],
        seg_end=segments[3],
        seg_is_change=segments[4],
        load_ratio=_load_ratio(segments, len(book.hired), partners, days, book.nominal),
        nominal=book.nominal,
    )


def _partner_change_times(
    rng: np.random.Generator,
    partners: Partners,
    days: int,
    april_days: np.ndarray,
    p: SimulationParams,
) -> np.ndarray:
    """Per partner, sorted times of single reassignments and April rotations."""
    n = partners.n
    count = rng.poisson(p.reassign_per_day * days, n)
    width = max(1, int(count.max(initial=0)) + len(april_days))
    times = np.full((n, width), INF)
    draws = rng.uniform(0.0, days, (n, width))
    cols = np.arange(width)
    times = np.where(cols[None, :] < count[:, None], np.floor(draws) + 0.45, times)
    for k, day in enumerate(april_days):
        rotated = rng.random(n) < p.april_reshuffle_share
        col = int(count.max(initial=0)) + k
        times[:, col] = np.where(rotated, day + 0.42, INF)
    times = np.where(times > partners.signed[:, None], times, INF)
    return np.sort(times, axis=1)


def _pick_psm(
    rng: np.random.Generator,
    at: np.ndarray,
    current: np.ndarray,
    hired: np.ndarray,
    left: np.ndarray,
    capacity: np.ndarray,
) -> np.ndarray:
    """A PSM in office at ``at`` (other than ``current``), by capacity weight."""
    chosen = np.full(len(at), -1)
    todo = np.arange(len(at))
    weights = capacity / capacity.sum()
    for _ in range(200):
        if len(todo) == 0:
            break
        cand = rng.choice(len(hired), size=len(todo), p=weights)
        ok = (hired[cand] <= at[todo]) & (left[cand] > at[todo])
        ok &= cand != current[todo]
        chosen[todo[ok]] = cand[ok]
        todo = todo[~ok]
    if len(todo):
        in_office = (hired[None, :] <= at[todo, None]) & (
            left[None, :] > at[todo, None]
        )
        chosen[todo] = np.argmax(in_office, axis=1)
    return chosen


def _walk_segments(
    rng: np.random.Generator,
    partners: Partners,
    days: int,
    changes: np.ndarray,
    start: np.ndarray,
    current: np.ndarray,
    hired: np.ndarray,
    left: np.ndarray,
    capacity: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Follow every partner from PSM to PSM until the end or its termination."""
    n = partners.n
    rows: list[tuple[np.ndarray, ...]] = []
    active = np.arange(n)
    seg_start = start.copy()
    is_change = np.zeros(n, dtype=bool)
    pointer = np.zeros(n, dtype=np.int64)
    width = changes.shape[1]
    while len(active):
        ptr = np.minimum(pointer[active], width - 1)
        nxt = np.where(pointer[active] < width, changes[active, ptr], INF)
        dep = left[current[active]]
        end_of_life = np.minimum(partners.terminated[active], float(days))
        t_next = np.minimum(np.minimum(nxt, dep), end_of_life)
        closes = t_next < end_of_life
        terminated = ~closes & (partners.terminated[active] <= days)
        seg_end = np.where(closes | terminated, t_next, INF)
        rows.append(
            (
                active,
                current[active],
                seg_start[active],
                seg_end,
                is_change[active],
            )
        )
        moving = active[closes]
        t_move = t_next[closes]
        current[moving] = _pick_psm(rng, t_move, current[moving], hired, left, capacity)
        seg_start[moving] = t_move
        is_change[moving] = True
        # skip every scheduled change at or before the move
        passed = (changes[moving] <= t_move[:, None]).sum(axis=1)
        pointer[moving] = passed
        active = moving
    return tuple(np.concatenate([r[i] for r in rows]) for i in range(5))


def _load_ratio(
    segments: tuple[np.ndarray, ...],
    psms: int,
    partners: Partners,
    days: int,
    nominal: float,
) -> np.ndarray:
    """Partners in each PSM's book per day, relative to the nominal book size."""
    part, psm, start, end = segments[:4]
    life_end = np.minimum(end, partners.terminated[part])
    lo = np.clip(np.ceil(start), 0, days).astype(np.int64)
    hi = np.clip(np.ceil(life_end), 0, days).astype(np.int64)
    diff = np.zeros((psms, days + 1), dtype=np.float32)
    np.add.at(diff, (psm, lo), 1.0)
    np.add.at(diff, (psm, hi), -1.0)
    load = np.cumsum(diff[:, :days], axis=1)
    return (load / nominal).astype(np.float32)


def partner_load_ratio(
    book: PsmBook, rows: np.ndarray, days: int, row_of: np.ndarray
) -> np.ndarray:
    """The load ratio of each partner's current PSM per day (rows x days, float32).

    ``row_of`` maps a partner index to its row in the result (-1 when not wanted).
    """
    keep = row_of[book.seg_partner] >= 0
    seg_row = row_of[book.seg_partner[keep]]
    psm = book.seg_psm[keep]
    lo = np.clip(np.ceil(book.seg_start[keep]), 0, days).astype(np.int64)
    order = np.lexsort((book.seg_start[keep], seg_row))
    seg_row, psm, lo = seg_row[order], psm[order], lo[order]
    prev = np.empty_like(psm)
    prev[0:1] = 0
    prev[1:] = np.where(seg_row[1:] == seg_row[:-1], psm[:-1], 0)
    diff = np.zeros((len(rows), days + 1), dtype=np.int32)
    np.add.at(diff, (seg_row, lo), (psm - prev).astype(np.int32))
    psm_of = np.cumsum(diff[:, :days], axis=1)
    ratio: np.ndarray = book.load_ratio[psm_of, np.arange(days)[None, :]]
    return ratio


def draw_episodes(
    rng: np.random.Generator,
    partners: Partners,
    book: PsmBook,
    days: int,
    p: SimulationParams,
    chunk: int,
) -> Episodes:
    """Draw at most one decline episode per partner, its stage onsets and its end.

    Sellability and priority episodes start at random; distance episodes also follow
    a PSM change (with probability ``reassign_trigger``) or a long stay with an
    overloaded PSM. Later stages follow the root in the order sellability ->
    distance -> priority after gamma-distributed lags; unless the partner recovers,
    silence follows the priority stage.
    """
    n = partners.n
    earliest = np.maximum(partners.signed + 120.0, -180.0)
    cand = np.full((n, 3), INF)
    cand[:, SELL] = earliest + rng.exponential(1.0 / p.hazard_sellability, n)
    cand[:, PRIO] = earliest + rng.exponential(1.0 / p.hazard_priority, n)
    cand[:, DIST] = earliest + rng.exponential(1.0 / p.hazard_distance, n)
    cand[:, DIST] = np.minimum(
        cand[:, DIST], _overload_onsets(rng, partners, book, days, p, chunk)
    )
    trig = book.seg_is_change & (rng.random(len(book.seg_partner)) < p.reassign_trigger)
    trig_time = book.seg_start[trig] + rng.uniform(0.0, 40.0, int(trig.sum()))
    np.minimum.at(cand[:, DIST], book.seg_partner[trig], trig_time)
    cand = np.where(cand >= earliest[:, None], cand, INF)

    root = np.argmin(cand, axis=1)
    start = np.floor(cand[np.arange(n), root]) + 0.5
    has = (start < days) & (start < partners.terminated)
    start = np.where(has, start, INF)
    root = np.where(has, root, -1)

    onset = np.full((n, 3), INF)
    lags = np.stack(
        [
            rng.gamma(2.0, p.lag_sell_to_distance / 2.0, n),
            rng.gamma(2.0, p.lag_distance_to_priority / 2.0, n),
        ],
        axis=1,
    )
    for stage in range(3):
        from_root = root == stage
        onset[from_root, stage] = start[from_root]
        if stage > 0:
            later = has & (root < stage)
            onset[later, stage] = onset[later, stage - 1] + lags[later, stage - 1]
    silent = np.ceil(
        onset[:, PRIO] + rng.gamma(2.0, p.lag_priority_to_silence / 2.0, n)
    )

    recovers = has & (rng.random(n) < p.recovery_share)
    span = np.where(recovers, silent - np.where(has, start, 0.0), 0.0)
    recovery = np.where(recovers, start + rng.uniform(0.25, 0.85, n) * span, INF)
    silent = np.where(recovers, INF, silent)
    onset = np.where(onset < recovery[:, None], onset, INF)
    silent = np.where(silent < days, silent, INF)
    return Episodes(
        start=start, root=root, onset=onset, silent=silent, recovery=recovery
    )


def _overload_onsets(
    rng: np.random.Generator,
    partners: Partners,
    book: PsmBook,
    days: int,
    p: SimulationParams,
    chunk: int,
) -> np.ndarray:
    """First passage of the hazard that an overloaded PSM adds, per partner."""
    n = partners.n
    out = np.full(n, INF)
    threshold = rng.exponential(1.0, n)
    for lo in range(0, n, chunk):
        rows = np.arange(lo, min(n, lo + chunk))
        row_of = np.full(n, -1)
        row_of[rows] = np.arange(len(rows))
        ratio = partner_load_ratio(book, rows, days, row_of)
        hazard = p.hazard_overload * np.clip(ratio - p.overload_threshold, 0.0, None)
        cum = np.cumsum(hazard, axis=1)
        hit = cum >= threshold[rows, None]
        first = np.argmax(hit, axis=1).astype(float)
        out[rows] = np.where(hit.any(axis=1), first + 0.5, INF)
    return out


def draw_terminations(
    rng: np.random.Generator,
    partners: Partners,
    episodes: Episodes,
    days: int,
    p: SimulationParams,
) -> None:
    """Terminate some silent partners months later and a few others abruptly."""
    n = partners.n
    after = episodes.silent + rng.gamma(3.0, 55.0, n)
    after = np.where(rng.random(n) < p.terminate_after_silence, after, INF)
    abrupt = np.where(
        rng.random(n) < p.abrupt_termination_share,
        np.maximum(partners.signed + 90.0, rng.uniform(0.0, days, n)),
        INF,
    )
    ended = np.minimum(after, abrupt)
    ended = np.where(ended < days, np.floor(ended) + rng.uniform(0.4, 0.75, n), INF)
    partners.terminated = ended


def draw_reps(
    rng: np.random.Generator,
    partners: Partners,
    episodes: Episodes,
    days: int,
    p: SimulationParams,
) -> Reps:
    """Rep rosters: slots filled by successive reps; sellers leave in priority.

    Each partner has ``slots`` seats for reps working the vendor's product. A seat is
    held by one rep after another (tenure and replacement gap exponential). Some
    reps never sell (weight 0). When the priority stage starts, reps who sell tend to
    leave or move within weeks, their replacements mostly never sell, and an extra
    rep who never sells may be put on the product; a recovery brings a new seller.
    """
    n = partners.n
    slot_partner = np.repeat(np.arange(n), partners.slots)
    first_slot = np.r_[True, slot_partner[1:] != slot_partner[:-1]]
    s = len(slot_partner)
    signed = partners.signed[slot_partner]
    old = signed < 0
    first_join = np.where(
        old,
        np.maximum(signed, -rng.exponential(700.0, s)),
        np.where(first_slot, signed, signed + rng.exponential(120.0, s)),
    )
    tenure = rng.exponential(p.rep_tenure_days, (s, MAX_REPS_PER_SLOT))
    gap = rng.exponential(p.rep_gap_days, (s, MAX_REPS_PER_SLOT))
    joined = np.empty((s, MAX_REPS_PER_SLOT))
    left = np.empty((s, MAX_REPS_PER_SLOT))
    joined[:, 0] = first_join
    for k in range(MAX_REPS_PER_SLOT):
        left[:, k] = joined[:, k] + tenure[:, k]
        if k + 1 < MAX_REPS_PER_SLOT:
            joined[:, k + 1] = left[:, k] + gap[:, k]
    never = rng.random((s, MAX_REPS_PER_SLOT)) < p.never_sell_share
    never[first_slot, 0] = rng.random(int(first_slot.sum())) < 0.1
    weight = rng.lognormal(0.0, p.seller_weight_sigma, (s, MAX_REPS_PER_SLOT))

    # priority: sellers leave, replacements rarely sell
    prio = episodes.onset[slot_partner, PRIO]
    on_seat = (joined <= prio[:, None]) & (left > prio[:, None]) & ~never
    goes = on_seat & (rng.random((s, MAX_REPS_PER_SLOT)) < p.seller_exit_share)
    new_left = prio[:, None] + rng.uniform(3.0, 75.0, (s, MAX_REPS_PER_SLOT))
    left = np.where(goes, np.minimum(left, new_left), left)
    follows = np.zeros_like(goes)
    follows[:, 1:] = goes[:, :-1]
    moved_join = np.roll(left, 1, axis=1) + gap
    joined = np.where(follows, np.minimum(joined, moved_join), joined)
    never = np.where(follows, rng.random(never.shape) < 0.85, never)
    weight = np.where(never, 0.0, weight)

    reps = _flatten_reps(slot_partner, joined, left, weight)
    extra = _extra_reps(rng, partners, episodes, p)
    reps = tuple(np.concatenate([a, b]) for a, b in zip(reps, extra, strict=True))
    return _finish_reps(reps, partners, days, p)


def _flatten_reps(
    slot_partner: np.ndarray,
    joined: np.ndarray,
    left: np.ndarray,
    weight: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Seat matrices to flat rep arrays."""
    part = np.repeat(slot_partner, joined.shape[1])
    return part, joined.ravel(), left.ravel(), weight.ravel()


def _extra_reps(
    rng: np.random.Generator,
    partners: Partners,
    episodes: Episodes,
    p: SimulationParams,
) -> tuple[np.ndarray, ...]:
    """Reps put on the product in priority (never sell) or at a recovery (sell)."""
    n = partners.n
    prio = episodes.onset[:, PRIO]
    idle = np.flatnonzero(np.isfinite(prio) & (rng.random(n) < 0.5))
    back = np.flatnonzero(np.isfinite(episodes.recovery) & (rng.random(n) < 0.8))
    idle_join = prio[idle] + rng.uniform(10.0, 90.0, len(idle))
    back_join = episodes.recovery[back] + rng.uniform(0.0, 30.0, len(back))
    part = np.concatenate([idle, back])
    joined = np.concatenate([idle_join, back_join])
    left = joined + rng.exponential(p.rep_tenure_days, len(part))
    weight = np.concatenate([np.zeros(len(idle)), rng.lognormal(0.3, 0.5, len(back))])
    return part, joined, left, weight


def _finish_reps(
    reps: tuple[np.ndarray, ...],
    partners: Partners,
    days: int,
    p: SimulationParams,
) -> Reps:
    """Drop seats outside the period, end rosters at termination, sort by partner."""
    part, joined, left, weight = reps
    joined = np.floor(joined) + 0.4
    left = np.floor(left) + 0.75
    term = partners.terminated[part]
    keep = (joined < days) & (joined < term) & (left > -365.0) & (left > joined)
    part, joined, left, weight = part[keep], joined[keep], left[keep], weight[keep]
    left = np.minimum(left, partners.terminated[part])
    left = np.where(left < days, left, INF)
    order = np.lexsort((joined, part))
    tier_mean = np.asarray(p.rep_slots_mean)[partners.tier]
    expected_w = np.exp(p.seller_weight_sigma**2 / 2.0) * (1.0 - p.never_sell_share)
    nominal = np.maximum(partners.slots, 0.5 * tier_mean) * expected_w
    return Reps(
        partner=part[order],
        joined=joined[order],
        left=left[order],
        weight=weight[order],
        nominal=nominal,
        first=np.searchsorted(part[order], np.arange(partners.n + 1)),
    )


def april_first_days(dates: pd.DatetimeIndex) -> np.ndarray:
    """Day indices of 1 April (the Japanese fiscal-year start) within ``dates``."""
    return np.flatnonzero((dates.month == 4) & (dates.day == 1)).astype(float)


def _norm(shares: tuple[float, ...]) -> np.ndarray:
    arr = np.asarray(shares, dtype=float)
    out: np.ndarray = arr / arr.sum()
    return out
