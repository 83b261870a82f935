"""The feature definitions, written once as Ibis expressions.

Inputs are the prepared tables of :mod:`ghost_model.features.prepare` (instants as
local day numbers) bound by name, so one expression compiles to DuckDB SQL and runs
unchanged on PySpark. The shape of every computation:

1. roll events up to one row per partner (or rep) and local day where several
   definitions read them (deals); other events go straight to step 2;
2. windows (trailing ones and the label's): every window boundary ``D - k`` cuts
   the day line into buckets; rows are summed per key and bucket first, and only
   these bucket sums meet the cutoffs whose windows hold them (a window is a whole
   number of buckets), so rows are never copied once per cutoff;
3. quantities over the whole history ("days since the last win"): put each day row
   in the bucket of the first cutoff after it, then run cumulative sums and maxima
   over a partner x cutoff grid;
4. states at the cutoff (open deals, roster, current partner manager): join the
   intervals to the cutoffs they cover.

Everything is strictly before the cutoff day ``D``: an event of day ``d`` is seen at
``D`` when ``d < D``, a deal closed on day ``D`` or later is still open, a rep who
leaves on day ``D`` or later is still on the roster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from ghost_model.features.config import FeatureConfig
from ghost_model.features.cutoffs import US_PER_DAY
from ghost_model.features.prepare import coded_schema

KEYS = ("partner_id", "ci")
FAR_DAY = 2**30
"""A local day after any data: the end of an interval that has not ended."""


DEAL_DAYS = "gm_deal_days"
"""The stored deal days (one row per partner and local day), read by several steps."""
POPULATION = "gm_population"
"""The stored population at each cutoff, with the deal windows of every row."""
REP_ROWS = "gm_rep_rows"
"""The stored rep rows, read by the partner rollup and by the rep display."""


@dataclass
class Definitions:
    """The compiled-to-be expressions of one feature build.

    ``steps`` run first, in order, each stored on the backend under its name
    (:data:`DEAL_DAYS`, :data:`POPULATION`, then :data:`REP_ROWS`), so that the
    queries after it read the stored rows instead of computing them again (a
    backend runs a subquery once per place it appears in); then ``partners`` and
    ``reps``. A step reads only the inputs and the steps before it.
    """

    partners: ir.Table
    reps: ir.Table
    steps: list[tuple[str, ir.Table]] = field(default_factory=list)
    feature_tables: dict[str, tuple[str, ...]] = field(default_factory=dict)


def input_tables(present: tuple[str, ...]) -> dict[str, ir.Table]:
    """Unbound Ibis tables named after the prepared inputs that are present."""
    out: dict[str, ir.Table] = {}
    for name in ("cutoffs", *present):
        schema = ibis.Schema.from_pyarrow(coded_schema(name))
        out[name] = ibis.table(schema, name=f"gm_{name}")
    return out


def define_features(
    tables: Mapping[str, ir.Table], config: FeatureConfig
) -> Definitions:
    """The partner feature table and the rep table as Ibis expressions.

    Parameters
    ----------
    tables
        Prepared inputs by name; ``cutoffs`` and ``deals`` are required, every other
        contract table is optional and its features are left out when absent.
    config
        Windows, horizon, look-back and stall age.

    Returns
    -------
    Definitions
        ``partners``: one row per partner in the population at each cutoff, with the
        keys ``partner_id`` and ``ci`` (cutoff index), every feature column and
        ``label``; ``reps``: one row per (partner, rep, cutoff) for display.
    """
    cut = tables["cutoffs"]
    deals = tables["deals"]
    computed_days = _deal_days(deals)
    deal_days = ibis.table(computed_days.schema(), name=DEAL_DAYS)
    windows = _deal_windows(deal_days, cut, config)
    computed_pop = _population(windows[0], cut, tables.get("partners"), config)
    for block in windows[1:]:
        computed_pop = _attach(computed_pop, block)
    pop = ibis.table(computed_pop.schema(), name=POPULATION)
    features: dict[str, ir.Table] = {}

    features["history"] = _deal_history(deal_days, cut)
    features["open"] = _open_deals(deals, cut, config)
    rep_rows = _rep_rows(deals, tables.get("partner_reps"), cut, pop, config)
    stored = ibis.table(rep_rows.schema(), name=REP_ROWS)
    features["reps"] = _rep_rollup(stored, config, "partner_reps" in tables)
    if "interactions" in tables:
        features["interactions"] = _interaction_windows(
            tables["interactions"], cut, config
        )
        features["responses"] = _responses(tables["interactions"], cut, config)
    if "portal_views" in tables:
        features["views"] = _view_windows(tables["portal_views"], cut, config)
    if "psm_assignments" in tables:
        features["psm"] = _psm(tables["psm_assignments"], cut, config)

    base = pop
    for block in features.values():
        base = _attach(base, block)
    columns = _feature_columns(base, config, set(tables))
    silent = ibis.ifelse(_zero(base.future_deals) > 0, 0, 1)
    label = ibis.ifelse(base.labeled, silent, None).cast("int8")
    partners = base.select(*KEYS, **columns, label=label)
    reps = _rep_display(stored, config)
    steps = [
        (DEAL_DAYS, computed_days),
        (POPULATION, computed_pop),
        (REP_ROWS, rep_rows),
    ]
    return Definitions(partners=partners, reps=reps, steps=steps)


# ---------------------------------------------------------------- generic helpers


def _attach(base: ir.Table, block: ir.Table) -> ir.Table:
    """Left-join ``block`` (keyed by partner and cutoff) onto ``base``."""
    extra = [c for c in block.columns if c not in KEYS and c not in base.columns]
    joined = base.left_join(block, list(KEYS))
    return joined.select(*[base[c] for c in base.columns], *[block[c] for c in extra])


def _count(condition: ir.BooleanValue) -> ir.IntegerScalar:
    return ibis.ifelse(condition, 1, 0).cast("int64").sum().cast("int64")


def _flag(condition: ir.BooleanValue) -> ir.IntegerValue:
    """1 where ``condition`` holds, else 0 (missing counts as 0)."""
    return ibis.ifelse(condition, 1, 0).cast("int64")


def _window_sums(
    rows: ir.Table,
    cut: ir.Table,
    sums: Mapping[str, tuple[str, int, int]],
    keys: tuple[str, ...] = ("partner_id",),
) -> ir.Table:
    """Sums of row-level columns over windows around each cutoff.

    ``sums`` maps an output name to ``(column, lo, hi)``: the sum of ``column`` over
    the rows of day ``d`` with ``D - hi <= d < D - lo`` (a negative ``lo`` reaches
    past the cutoff, as the label's window does). ``rows`` holds ``keys``, the local
    day ``d`` and the summed columns; it may be raw events or day rows.

    Every window boundary ``B = D - k`` (each cutoff, each offset ``k``) cuts the day
    line into non-overlapping buckets, and rows are first summed per key and bucket.
    Each window is then a whole number of buckets (those with ``D - hi < b <= D -
    lo``), so only the bucket sums meet the cutoffs, never the rows. A key gets a
    row at a cutoff only where one of its buckets lies in one of the windows.
    """
    offsets = sorted({k for _, lo, hi in sums.values() for k in (lo, hi)})
    marks = cut.select("ci", "cut_day", k=ibis.literal(offsets).unnest())
    marks = marks.mutate(b=marks.cut_day - marks.k)
    columns = sorted({col for col, _, _ in sums.values()})
    buckets = _boundary_buckets(rows, marks, columns, keys)

    joined = buckets.join(
        cut,
        [
            buckets.b > cut.cut_day - offsets[-1],
            buckets.b <= cut.cut_day - offsets[0],
        ],
    )
    aggs = {}
    for name, (col, lo, hi) in sums.items():
        kind = "int64" if joined[col].type().is_integer() else "float64"
        inside = (joined.b > joined.cut_day - hi) & (joined.b <= joined.cut_day - lo)
        aggs[name] = ibis.ifelse(inside, joined[col], 0).sum().cast(kind)
    return joined.group_by([*keys, "ci"]).aggregate(**aggs)


def _boundary_buckets(
    rows: ir.Table, marks: ir.Table, columns: list[str], keys: tuple[str, ...]
) -> ir.Table:
    """Column sums per key and bucket ``[previous boundary, b)``.

    A day finds its bucket through an equality join on a calendar of the days between
    the first and the last boundary; days outside it lie in no window and drop out.
    """
    bounds = marks.select("b").distinct()
    bounds = bounds.mutate(start=bounds.b.lag().over(ibis.window(order_by="b")))
    bounds = bounds.filter(bounds.start.notnull())
    calendar = bounds.select("b", d=ibis.range(bounds.start, bounds.b).unnest())
    joined = rows.join(calendar, "d")
    return joined.group_by([*keys, "b"]).aggregate(
        **{c: joined[c].sum() for c in columns}
    )


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    """``num / den``, missing when ``den`` is zero or missing."""
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), None).cast(
        "float64"
    )


def _trend(cur: ir.NumericValue, prev: ir.NumericValue) -> ir.FloatingValue:
    """``(cur - prev) / (cur + prev)``: -1 gone, 0 steady, +1 new; NaN when both 0."""
    return _ratio(cur - prev, cur + prev)


def _days_since(now: ir.IntegerValue, day: ir.IntegerValue) -> ir.FloatingValue:
    return (now - day).cast("float64")


def _zero(value: ir.NumericValue) -> ir.NumericValue:
    return value.fill_null(0)


# ---------------------------------------------------------------- deals


def _deal_days(deals: ir.Table) -> ir.Table:
    """Deals rolled up to one row per partner and local day.

    ``n_reg`` registrations that day; ``n_won``/``n_lost`` closures that day; ``cyc``
    and ``n_cyc`` the summed (in microseconds, exact) and counted
    registration-to-order times of the wins. Each deal gives a registration row and,
    once closed, a closing row; both kinds are summed in one aggregation.
    """
    zero = ibis.literal(0, "int64")
    reg = deals.select(
        "partner_id",
        d=deals.reg_d,
        n_reg=ibis.literal(1, "int64"),
        n_won=zero,
        n_lost=zero,
        cyc=zero,
        n_cyc=zero,
    )
    closed = deals.filter(deals.close_d.notnull() & deals.outcome.isin(["won", "lost"]))
    won = closed.outcome == "won"
    cycle_known = won & closed.cycle_us.notnull()
    close = closed.select(
        "partner_id",
        d=closed.close_d,
        n_reg=zero,
        n_won=_flag(won),
        n_lost=_flag(~won),
        cyc=ibis.ifelse(cycle_known, closed.cycle_us, 0).cast("int64"),
        n_cyc=_flag(cycle_known),
    )
    rows = reg.union(close, distinct=False)
    return rows.group_by("partner_id", "d").aggregate(
        **{
            c: rows[c].sum().cast("int64")
            for c in ("n_reg", "n_won", "n_lost", "cyc", "n_cyc")
        }
    )


def _population(
    windows: ir.Table,
    cut: ir.Table,
    partners: ir.Table | None,
    config: FeatureConfig,
) -> ir.Table:
    """Partners with a deal in the look-back, not terminated or unsigned at ``t``.

    ``windows`` are the deal windows (with ``n_lookback``); their columns come along.
    """
    recent = windows.filter(windows.n_lookback > 0)
    pop = recent.join(cut, recent.ci == cut.ci).select(
        *[recent[c] for c in recent.columns], cut.cut_day, cut.month, cut.labeled
    )
    if partners is None:
        return pop
    joined = pop.left_join(partners, pop.partner_id == partners.partner_id).select(
        *[pop[c] for c in pop.columns],
        partners.tier,
        partners.signed_d,
        partners.term_d,
    )
    active = (joined.term_d.isnull() | (joined.term_d >= joined.cut_day)) & (
        joined.signed_d.isnull() | (joined.signed_d < joined.cut_day)
    )
    return joined.filter(active).drop("term_d")


def _deal_windows(
    deal_days: ir.Table, cut: ir.Table, config: FeatureConfig
) -> list[ir.Table]:
    """Deal sums over the windows; the first table holds the look-back count.

    Windows of very different reach are summed apart: a bucket meets every cutoff
    within the widest window of its group, so one group reaching from 90 days after
    the cutoff to 360 days before it would meet about twice as many.
    """
    m, l_ = config.mid, config.long
    sums: dict[str, tuple[str, int, int]] = {}
    for w in config.windows:
        sums[f"reg_{w}"] = ("n_reg", 0, w)
        sums[f"won_{w}"] = ("n_won", 0, w)
        sums[f"lost_{w}"] = ("n_lost", 0, w)
    sums[f"reg_prev_{m}"] = ("n_reg", m, 2 * m)
    sums[f"won_prev_{m}"] = ("n_won", m, 2 * m)
    sums[f"lost_prev_{m}"] = ("n_lost", m, 2 * m)
    sums[f"cyc_{l_}"] = ("cyc", 0, l_)
    sums[f"n_cyc_{l_}"] = ("n_cyc", 0, l_)
    sums["n_lookback"] = ("n_reg", 0, config.lookback_days)
    return [
        _window_sums(deal_days, cut, sums),
        _window_sums(deal_days, cut, {f"reg_prev_{l_}": ("n_reg", l_, 2 * l_)}),
        _window_sums(
            deal_days, cut, {"future_deals": ("n_reg", -config.horizon_days, 0)}
        ),
    ]


def _bucketed(days: ir.Table, cut: ir.Table) -> ir.Table:
    """Day rows with the index of the first cutoff after them (later days dropped).

    A day finds its cutoff through an equality join on a calendar of the days
    between the first and the last cutoff (a hash lookup per row, where a join on
    ranges sorts every row); days before the first cutoff are looked up as the day
    just before it.
    """
    before_first = cut.filter(cut.ci == 0).select(before_first=cut.cut_day - 1)
    bounds = cut.cross_join(before_first)
    calendar = bounds.select(
        "ci",
        d=ibis.range(
            ibis.greatest(bounds.cut_prev, bounds.before_first), bounds.cut_day
        ).unnest(),
    )
    looked_up = days.cross_join(before_first)
    early = looked_up.d < looked_up.before_first
    # a missing day stays missing and finds no cutoff (greatest would skip it)
    looked_up = looked_up.mutate(
        d_cal=ibis.ifelse(early, looked_up.before_first, looked_up.d)
    )
    joined = looked_up.join(calendar, looked_up.d_cal == calendar.d)
    return joined.select(*[looked_up[c] for c in days.columns], ci=calendar.ci)


def _deal_history(deal_days: ir.Table, cut: ir.Table) -> ir.Table:
    """Whole-history deal quantities at each cutoff, via cumulative sums over a grid."""
    by_day = ibis.window(group_by="partner_id", order_by="d", rows=(None, 0))
    running = deal_days.mutate(run_reg=deal_days.n_reg.sum().over(by_day))
    rows = _bucketed(running, cut)
    has_reg = rows.n_reg > 0
    has_win = rows.n_won > 0
    buckets = rows.group_by("partner_id", "ci").aggregate(
        b_last_reg=rows.d.max(where=has_reg),
        b_first_reg=rows.d.min(where=has_reg),
        b_last_win=rows.d.max(where=has_win),
        b_reg=rows.n_reg.sum(),
        b_reg_days=_count(has_reg),
        b_cyc=rows.cyc.sum(),
        b_n_cyc=rows.n_cyc.sum(),
        b_reg_at_win=rows.run_reg.max(where=has_win),
    )
    partners = deal_days.select("partner_id").distinct()
    grid = partners.cross_join(cut.select("ci"))
    full = _attach(grid, buckets)
    upto = ibis.window(group_by="partner_id", order_by="ci", rows=(None, 0))
    return full.select(
        "partner_id",
        "ci",
        last_reg_d=full.b_last_reg.max().over(upto),
        first_reg_d=full.b_first_reg.min().over(upto),
        last_win_d=full.b_last_win.max().over(upto),
        cum_reg=_zero(full.b_reg).sum().over(upto),
        cum_reg_days=_zero(full.b_reg_days).sum().over(upto),
        cum_cyc=_zero(full.b_cyc).sum().over(upto),
        cum_n_cyc=_zero(full.b_n_cyc).sum().over(upto),
        reg_at_last_win=full.b_reg_at_win.max().over(upto),
    )


def _open_deals(deals: ir.Table, cut: ir.Table, config: FeatureConfig) -> ir.Table:
    """Deals registered before ``t`` and not closed before ``t``; stalled when old."""
    ends = deals.close_d.fill_null(FAR_DAY)
    joined = deals.join(cut, [deals.reg_d < cut.cut_day, ends >= cut.cut_day])
    return joined.group_by("partner_id", "ci").aggregate(
        open_deals=joined.count().cast("int64"),
        stalled_deals=_count(joined.cut_day - joined.reg_d > config.stall_days),
    )


# ---------------------------------------------------------------- reps


def _rep_rows(
    deals: ir.Table,
    roster: ir.Table | None,
    cut: ir.Table,
    pop: ir.Table,
    config: FeatureConfig,
) -> ir.Table:
    """One row per (partner, rep, cutoff) in the population: activity and roster."""
    s, m, l_ = config.windows
    with_rep = deals.filter(deals.rep_id.notnull())
    reg = with_rep.group_by("partner_id", "rep_id", d=with_rep.reg_d).aggregate(
        n_reg=with_rep.count().cast("int64"), n_won=ibis.literal(0, "int64")
    )
    wins = with_rep.filter(with_rep.close_d.notnull() & (with_rep.outcome == "won"))
    won = wins.group_by("partner_id", "rep_id", d=wins.close_d).aggregate(
        n_reg=ibis.literal(0, "int64"), n_won=wins.count().cast("int64")
    )
    both = reg.union(won)
    rep_days = both.group_by("partner_id", "rep_id", "d").aggregate(
        n_reg=both.n_reg.sum().cast("int64"), n_won=both.n_won.sum().cast("int64")
    )
    keys = ("partner_id", "rep_id")
    windows = _window_sums(
        rep_days,
        cut,
        {
            "r_reg_s": ("n_reg", 0, s),
            "r_reg_m": ("n_reg", 0, m),
            "r_reg_l": ("n_reg", 0, l_),
            "r_reg_prev_m": ("n_reg", m, 2 * m),
            "r_won_l": ("n_won", 0, l_),
        },
        keys=keys,
    )

    # whole history per rep: last deal, any win
    rows = _bucketed(rep_days, cut)
    buckets = rows.group_by(*keys, "ci").aggregate(
        b_last_reg=rows.d.max(where=rows.n_reg > 0), b_won=rows.n_won.sum()
    )
    rep_keys = rep_days.select(*keys)
    if roster is not None:
        rep_keys = rep_keys.union(roster.select(*keys))
    rep_keys = rep_keys.distinct()
    pop_keys = pop.select("partner_id", "ci", "cut_day")
    grid = rep_keys.join(pop_keys.select("partner_id").distinct(), "partner_id")
    grid = grid.cross_join(cut.select("ci", "cut_day"))
    full = grid.left_join(buckets, [*keys, "ci"]).select(
        *[grid[c] for c in grid.columns], buckets.b_last_reg, buckets.b_won
    )
    upto = ibis.window(group_by=list(keys), order_by="ci", rows=(None, 0))
    hist = full.select(
        *keys,
        "ci",
        "cut_day",
        last_reg_d=full.b_last_reg.max().over(upto),
        won_ever=_zero(full.b_won).sum().over(upto),
    )
    hist = hist.join(pop_keys.select("partner_id", "ci"), ["partner_id", "ci"])
    act = hist.left_join(windows, [*keys, "ci"]).select(
        *[hist[c] for c in hist.columns],
        *[_zero(windows[c]).name(c) for c in windows.columns if c.startswith("r_")],
    )
    if roster is None:
        in_roster = ibis.literal(False)
        joined_d = ibis.literal(None, "int32")
        left_d = ibis.literal(None, "int32")
        act2 = act.mutate(join_d=joined_d, left_d=left_d, in_roster=in_roster)
    else:
        act2 = act.left_join(roster, list(keys)).select(
            *[act[c] for c in act.columns],
            roster.join_d,
            roster.left_d,
            in_roster=roster.rep_id.notnull(),
        )
    now = act2.cut_day
    # a roster row whose rep joins at or after t is not known at t: such a rep is
    # treated exactly as one the roster does not list
    rostered = act2.in_roster & (act2.join_d < now)
    departed = act2.left_d.notnull() & (act2.left_d < now)
    on_roster = rostered & ~departed
    ever_sold = act2.won_ever > 0
    out = act2.mutate(
        rostered=rostered.fill_null(False),
        departed=departed.fill_null(False),
        on_roster=on_roster.fill_null(False),
        ever_sold=ever_sold,
        quiet=(ever_sold & (act2.r_reg_m == 0) & ~departed.fill_null(False)),
        tenure_days=ibis.ifelse(
            act2.join_d < now, _days_since(now, act2.join_d), None
        ).cast("float64"),
        days_since_last_activity=_days_since(now, act2.last_reg_d),
        departed_recently=departed.fill_null(False) & (act2.left_d >= now - l_),
    )
    keep = (
        out.on_roster
        | out.departed_recently
        | (out.r_reg_l > 0)
        | (~out.rostered & (out.last_reg_d >= out.cut_day - config.lookback_days))
    )
    kept = out.filter(keep.fill_null(False))
    return kept.select(
        *keys,
        "ci",
        "r_reg_m",
        "r_reg_l",
        "r_reg_prev_m",
        "r_won_l",
        "days_since_last_activity",
        "tenure_days",
        "on_roster",
        "departed",
        "departed_recently",
        "ever_sold",
        "quiet",
    )


def _rep_rollup(
    rep_rows: ir.Table, config: FeatureConfig, has_roster: bool
) -> ir.Table:
    r = rep_rows
    aggs: dict[str, ir.Scalar] = {
        "reps_proposing_m": _count(r.r_reg_m > 0),
        "reps_proposing_l": _count(r.r_reg_l > 0),
        "reps_proposing_prev_m": _count(r.r_reg_prev_m > 0),
        "quiet_reps": _count(r.quiet),
        "top_rep_max_l": r.r_reg_l.max(),
        "top_rep_sum_l": r.r_reg_l.sum(),
    }
    if has_roster:
        aggs["departed_sellers_l"] = _count(r.departed_recently & r.ever_sold)
        aggs["roster_never_sold"] = _count(r.on_roster & ~r.ever_sold)
        aggs["roster_size"] = _count(r.on_roster)
    return r.group_by("partner_id", "ci").aggregate(**aggs)


def _rep_display(rep_rows: ir.Table, config: FeatureConfig) -> ir.Table:
    _, m, l_ = config.windows
    r = rep_rows
    return r.select(
        "partner_id",
        "rep_id",
        "ci",
        **{
            f"deals_{m}d": r.r_reg_m.cast("float64"),
            f"deals_{l_}d": r.r_reg_l.cast("float64"),
            f"won_{l_}d": r.r_won_l.cast("float64"),
        },
        days_since_last_activity=r.days_since_last_activity,
        tenure_days=r.tenure_days,
        on_roster=r.on_roster,
        departed=r.departed,
        ever_sold=r.ever_sold,
        quiet=r.quiet,
    )


# ---------------------------------------------------------------- distance


def _interaction_windows(
    interactions: ir.Table, cut: ir.Table, config: FeatureConfig
) -> ir.Table:
    inbound = interactions.filter(interactions.direction == "inbound")
    kind = inbound.kind
    rows = inbound.select(
        "partner_id",
        d=inbound.occ_d,
        n_q=_flag(kind == "question"),
        n_c=_flag(kind == "consultation"),
        n_r=_flag(kind == "report"),
    )
    m = config.mid
    sums: dict[str, tuple[str, int, int]] = {}
    for w in config.windows:
        sums[f"q_{w}"] = ("n_q", 0, w)
        sums[f"c_{w}"] = ("n_c", 0, w)
    sums[f"q_prev_{m}"] = ("n_q", m, 2 * m)
    sums[f"c_prev_{m}"] = ("n_c", m, 2 * m)
    sums[f"r_{m}"] = ("n_r", 0, m)
    sums[f"r_prev_{m}"] = ("n_r", m, 2 * m)
    return _window_sums(rows, cut, sums)


def _responses(
    interactions: ir.Table, cut: ir.Table, config: FeatureConfig
) -> ir.Table:
    """Questions and consultations from the partner: answered before ``t``? how fast?"""
    m = config.mid
    asks = interactions.filter(
        (interactions.direction == "inbound")
        & interactions.kind.isin(["question", "consultation"])
    )
    joined = asks.join(
        cut, [asks.occ_d < cut.cut_day, asks.occ_d >= cut.cut_day - 2 * m]
    )
    recent = joined.occ_d >= joined.cut_day - m
    answered = joined.resp_d.notnull() & (joined.resp_d < joined.cut_day)
    return joined.group_by("partner_id", "ci").aggregate(
        asked_m=_count(recent),
        answered_m=_count(recent & answered),
        resp_med_m=_answer_hours(joined, recent & answered).median(),
        resp_med_prev_m=_answer_hours(joined, ~recent & answered).median(),
    )


def _answer_hours(joined: ir.Table, keep: ir.BooleanValue) -> ir.FloatingValue:
    """Answer times where ``keep`` holds, else missing (medians skip missing)."""
    return ibis.ifelse(keep, joined.resp_hours, None).cast("float64")


def _view_windows(views: ir.Table, cut: ir.Table, config: FeatureConfig) -> ir.Table:
    rows = views.select("partner_id", d=views.view_d, n_v=ibis.literal(1, "int64"))
    m = config.mid
    sums = {f"v_{w}": ("n_v", 0, w) for w in config.windows}
    sums[f"v_prev_{m}"] = ("n_v", m, 2 * m)
    return _window_sums(rows, cut, sums)


def _psm(assignments: ir.Table, cut: ir.Table, config: FeatureConfig) -> ir.Table:
    """Partner-manager changes before ``t`` and the current manager's load at ``t``."""
    a = assignments.mutate(
        first_start=assignments.start_d.min().over(group_by="partner_id")
    )
    started = a.join(cut, a.start_d < cut.cut_day)
    changes = started.group_by("partner_id", "ci").aggregate(
        last_start=started.start_d.max(),
        psm_changes=_count(
            (started.start_d >= started.cut_day - config.long)
            & (started.start_d > started.first_start)
        ),
    )
    ends = a.end_d.fill_null(FAR_DAY)
    active = a.join(cut, [a.start_d < cut.cut_day, ends >= cut.cut_day]).select(
        "partner_id", "psm_id", "ci"
    )
    load = active.group_by("psm_id", "ci").aggregate(load=active.partner_id.nunique())
    loaded = active.join(load, ["psm_id", "ci"])
    current = loaded.group_by("partner_id", "ci").aggregate(psm_load=loaded.load.max())
    return _attach(changes, current)


# ---------------------------------------------------------------- assembly


def _feature_columns(
    b: ir.Table, config: FeatureConfig, present: set[str]
) -> dict[str, ir.Value]:
    """Every feature column, in catalogue order, for the tables present."""
    s, m, l_ = config.windows
    now = b.cut_day
    z = _zero
    cols: dict[str, ir.Value] = {}

    # sellability
    for w in config.windows:
        cols[f"win_rate_{w}d"] = _ratio(
            z(b[f"won_{w}"]), z(b[f"won_{w}"]) + z(b[f"lost_{w}"])
        )
    prev_rate = _ratio(
        z(b[f"won_prev_{m}"]), z(b[f"won_prev_{m}"]) + z(b[f"lost_prev_{m}"])
    )
    cols[f"win_rate_prev_{m}d"] = prev_rate
    cols[f"win_rate_change_{m}d"] = cols[f"win_rate_{m}d"] - prev_rate
    cols[f"wins_{l_}d"] = z(b[f"won_{l_}"]).cast("float64")
    cols[f"closed_deals_{l_}d"] = (z(b[f"won_{l_}"]) + z(b[f"lost_{l_}"])).cast(
        "float64"
    )
    recent_cycle = _ratio(z(b[f"cyc_{l_}"]), z(b[f"n_cyc_{l_}"])) / US_PER_DAY
    history_cycle = (
        _ratio(z(b.cum_cyc) - z(b[f"cyc_{l_}"]), z(b.cum_n_cyc) - z(b[f"n_cyc_{l_}"]))
        / US_PER_DAY
    )
    cols[f"win_cycle_days_{l_}d"] = recent_cycle
    cols["win_cycle_days_history"] = history_cycle
    cols["win_cycle_vs_history"] = _ratio(recent_cycle, history_cycle)
    cols["open_deals"] = z(b.open_deals).cast("float64")
    cols["stalled_deals"] = z(b.stalled_deals).cast("float64")
    cols["stalled_share"] = _ratio(z(b.stalled_deals), z(b.open_deals))
    cols["proposals_since_last_win"] = (z(b.cum_reg) - z(b.reg_at_last_win)).cast(
        "float64"
    )
    cols["days_since_last_win"] = _days_since(now, b.last_win_d)

    # distance
    if "interactions" in present:
        for short, name in (("q", "inbound_questions"), ("c", "inbound_consultations")):
            for w in config.windows:
                cols[f"{name}_{w}d"] = z(b[f"{short}_{w}"]).cast("float64")
            cols[f"{name}_prev_{m}d"] = z(b[f"{short}_prev_{m}"]).cast("float64")
            cols[f"{name}_trend_{m}d"] = _trend(
                z(b[f"{short}_{m}"]), z(b[f"{short}_prev_{m}"])
            )
        share = _ratio(z(b[f"r_{m}"]), z(b[f"r_{m}"]) + z(b[f"c_{m}"]))
        prev_share = _ratio(
            z(b[f"r_prev_{m}"]), z(b[f"r_prev_{m}"]) + z(b[f"c_prev_{m}"])
        )
        cols[f"report_share_{m}d"] = share
        cols[f"report_share_prev_{m}d"] = prev_share
        cols[f"report_share_change_{m}d"] = share - prev_share
        cols[f"response_hours_median_{m}d"] = b.resp_med_m.cast("float64")
        cols[f"response_hours_median_prev_{m}d"] = b.resp_med_prev_m.cast("float64")
        cols[f"unanswered_share_{m}d"] = _ratio(
            z(b.asked_m) - z(b.answered_m), z(b.asked_m)
        )
    if "portal_views" in present:
        for w in config.windows:
            cols[f"portal_views_{w}d"] = z(b[f"v_{w}"]).cast("float64")
        cols[f"portal_views_prev_{m}d"] = z(b[f"v_prev_{m}"]).cast("float64")
        cols[f"portal_views_trend_{m}d"] = _trend(z(b[f"v_{m}"]), z(b[f"v_prev_{m}"]))
    if "psm_assignments" in present:
        cols["days_since_psm_change"] = _days_since(now, b.last_start)
        cols[f"psm_changes_{l_}d"] = z(b.psm_changes).cast("float64")
        cols["psm_load"] = b.psm_load.cast("float64")

    # priority
    for w in config.windows:
        cols[f"deals_{w}d"] = z(b[f"reg_{w}"]).cast("float64")
    for w in (m, l_):
        cols[f"deals_prev_{w}d"] = z(b[f"reg_prev_{w}"]).cast("float64")
        cols[f"deals_trend_{w}d"] = _trend(z(b[f"reg_{w}"]), z(b[f"reg_prev_{w}"]))
    cols["days_since_last_deal"] = _days_since(now, b.last_reg_d)
    cols[f"reps_proposing_{m}d"] = z(b.reps_proposing_m).cast("float64")
    cols[f"reps_proposing_{l_}d"] = z(b.reps_proposing_l).cast("float64")
    cols[f"reps_proposing_prev_{m}d"] = z(b.reps_proposing_prev_m).cast("float64")
    cols[f"reps_proposing_trend_{m}d"] = _trend(
        z(b.reps_proposing_m), z(b.reps_proposing_prev_m)
    )
    cols["quiet_reps"] = z(b.quiet_reps).cast("float64")
    cols[f"top_rep_share_{l_}d"] = _ratio(b.top_rep_max_l, b.top_rep_sum_l)
    if "partner_reps" in present:
        cols[f"departed_sellers_{l_}d"] = z(b.departed_sellers_l).cast("float64")
        cols["roster_never_sold"] = z(b.roster_never_sold).cast("float64")
        cols["roster_never_sold_share"] = _ratio(
            z(b.roster_never_sold), z(b.roster_size)
        )

    # context
    if "partners" in present:
        cols["tenure_days"] = ibis.ifelse(
            b.signed_d < now, _days_since(now, b.signed_d), None
        ).cast("float64")
        cols["tier"] = b.tier
    if "partner_reps" in present:
        cols["n_reps"] = z(b.roster_size).cast("float64")
    cols["days_since_first_deal"] = _days_since(now, b.first_reg_d)
    cols["deal_days_history"] = z(b.cum_reg_days).cast("float64")
    cols["month_of_year"] = b.month.cast("float64")
    del s
    return cols
