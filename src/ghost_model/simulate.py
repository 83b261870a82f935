"""The embedded default dataset: a seeded, mechanism-driven partner ecosystem.

A vendor's PSMs look after partners of four tiers; partners' reps join, leave and
sometimes never sell; activity follows the Japanese fiscal year; partners are
sporadic by nature, and some drift into decline episodes that start in one stage
(sellability, distance or priority), spread to the later ones, and end in silence
unless the partner recovers. :func:`simulate_ecosystem` returns the six contract
tables with canonical dtypes plus the ground truth; :func:`write_ecosystem` writes
them as a dataset folder. The story and its parameters: ``docs/simulator.md``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from ghost_model.contract import STAGES, TABLES, TIMESTAMP_DTYPE
from ghost_model.dataset import DATASET_FILE, Dataset, DatasetConfig
from ghost_model.errors import ConfigError
from ghost_model.simulation import events as ev
from ghost_model.simulation import world as wd
from ghost_model.simulation.calendar import local_days, season_multipliers
from ghost_model.simulation.params import (
    ASSETS,
    CHANNELS,
    PRODUCTS,
    REGIONS,
    TIERS,
    SimulationParams,
)

log = logging.getLogger(__name__)

TIMEZONE = "Asia/Tokyo"
TRUTH_FILE = "truth.csv"
PARTNERS_PER_CHUNK = 1500
_SECONDS_PER_DAY = 86_400
_NAME_HEADS = (
    "Sakura", "Aoba", "Fuji", "Midori", "Hikari", "Minato", "Yamato", "Kaede",
    "Hoshi", "Asahi", "Tsubasa", "Kawase", "Nishiki", "Ginga", "Shiratori", "Kotobuki",
)  # fmt: skip
_NAME_TAILS = (
    "Systems", "Solutions", "Trading", "IT Service", "Networks", "Digital",
    "Business Partners", "Techno", "Information", "Office Supply",
)  # fmt: skip


@dataclass
class SimulatedEcosystem:
    """A simulated dataset: the six contract tables, their config and the truth.

    ``truth`` has one row per partner: ``partner_id`` and ``root_stage`` (str),
    ``decline_start``, ``silent_from`` and ``terminated_at`` (UTC instants; the
    first two are local midnights) and ``recovered`` (nullable boolean), missing
    where not applicable.
    """

    tables: dict[str, pd.DataFrame]
    config: DatasetConfig
    truth: pd.DataFrame

    def dataset(self) -> Dataset:
        """The tables as a :class:`~ghost_model.dataset.Dataset`."""
        counts = {
            name: {
                "read": len(t),
                "accepted": len(t),
                "quarantined": 0,
                "duplicates": 0,
            }
            for name, t in self.tables.items()
        }
        return Dataset(
            tables=dict(self.tables),
            config=self.config,
            source=f"simulated:{self.config.name}",
            row_counts=counts,
        )


def simulate_ecosystem(
    partners: int = 2000,
    months: int = 36,
    start: str = "2022-04-01",
    seed: int = 7,
    *,
    params: SimulationParams | None = None,
) -> SimulatedEcosystem:
    """Simulate a partner ecosystem and return its tables and ground truth.

    Parameters
    ----------
    partners
        Number of partners (at least 1).
    months
        Length of the simulated period in calendar months (at least 1).
    start
        First local day of the period (Asia/Tokyo), e.g. ``"2022-04-01"``.
    seed
        Seed of the random generator; the same arguments give identical tables.
    params
        The simulator's knobs; the default story when omitted.

    Returns
    -------
    SimulatedEcosystem
        Six contract tables with canonical dtypes, a ``DatasetConfig`` whose
        extract time is the end of the period, and the ground truth per partner.
    """
    begin = time.perf_counter()
    p = params or SimulationParams()
    first_day, end = _period(partners, months, start)
    dates = local_days(first_day, (end - first_day).days)
    days = len(dates)
    streams = np.random.SeedSequence([seed, partners, months]).spawn(6)
    world = _draw_world(streams[:5], partners, dates, p)

    chunk_seeds = streams[5].spawn(
        (partners + PARTNERS_PER_CHUNK - 1) // PARTNERS_PER_CHUNK
    )
    raw: dict[str, list[dict[str, np.ndarray]]] = {
        "deals": [],
        "interactions": [],
        "portal_views": [],
    }
    for k, chunk_seed in enumerate(chunk_seeds):
        rows = np.arange(
            k * PARTNERS_PER_CHUNK, min(partners, (k + 1) * PARTNERS_PER_CHUNK)
        )
        out = ev.simulate_events(np.random.default_rng(chunk_seed), world, rows)
        for name, arrays in out.items():
            raw[name].append(arrays)
        log.debug("simulated events of partners %d-%d", rows[0], rows[-1])

    origin = first_day.tz_localize(TIMEZONE).tz_convert("UTC")
    builder = _TableBuilder(origin, world)
    tables = builder.tables(raw)
    config = DatasetConfig(
        timezone=TIMEZONE,
        extract_time=builder.instant(np.array([float(days)]))[0],
        name=f"synthetic-ecosystem-{partners}x{months}",
    )
    truth = builder.truth()
    log.info(
        "simulated %d partners over %d months: %s in %.1f s",
        partners,
        months,
        ", ".join(f"{len(t):,} {n}" for n, t in tables.items()),
        time.perf_counter() - begin,
    )
    return SimulatedEcosystem(tables=tables, config=config, truth=truth)


def write_ecosystem(eco: SimulatedEcosystem, out_dir: Path) -> None:
    """Write the tables as Parquet, ``dataset.yaml`` and ``truth.csv`` into ``out_dir``.

    Parameters
    ----------
    eco
        A simulated ecosystem.
    out_dir
        The dataset folder; created when missing, files in it are replaced.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in eco.tables.items():
        table.to_parquet(out_dir / f"{name}.parquet", index=False)
    (out_dir / DATASET_FILE).write_text(
        yaml.safe_dump(eco.config.to_mapping(), sort_keys=False), encoding="utf-8"
    )
    truth_csv(eco.truth).to_csv(out_dir / TRUTH_FILE, index=False)
    log.info(
        "wrote %d tables, %s and %s to %s",
        len(eco.tables),
        DATASET_FILE,
        TRUTH_FILE,
        out_dir,
    )


def truth_csv(truth: pd.DataFrame) -> pd.DataFrame:
    """The truth as in ``truth.csv``: ISO instants, ``true``/``false``, blanks."""
    out = truth.copy()
    for col in ("decline_start", "silent_from", "terminated_at"):
        out[col] = truth[col].map(lambda v: "" if pd.isna(v) else v.isoformat())
    out["recovered"] = truth["recovered"].map(
        lambda v: "" if pd.isna(v) else ("true" if v else "false")
    )
    out["root_stage"] = truth["root_stage"].fillna("")
    return out


def _period(
    partners: int, months: int, start: str
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Check the arguments; the first local day and the local end of the period."""
    if partners < 1:
        raise ConfigError(f"partners={partners!r}: need at least 1 partner")
    if months < 1:
        raise ConfigError(f"months={months!r}: need at least 1 month")
    try:
        first_day = pd.Timestamp(dt.date.fromisoformat(str(start)))
    except ValueError as exc:
        raise ConfigError(
            f"start={start!r} is not a local date; use YYYY-MM-DD, e.g. '2022-04-01'"
        ) from exc
    first_day = first_day.normalize()
    return first_day, first_day + pd.DateOffset(months=months)


def _draw_world(
    streams: list[np.random.SeedSequence],
    n: int,
    dates: pd.DatetimeIndex,
    p: SimulationParams,
) -> ev.World:
    """Partners, PSM book, episodes, terminations and rosters, in causal order."""
    days = len(dates)
    rngs = [np.random.default_rng(s) for s in streams]
    partners = wd.draw_partners(rngs[0], n, days, p)
    book = wd.draw_psm_book(rngs[1], partners, days, wd.april_first_days(dates), p)
    episodes = wd.draw_episodes(rngs[2], partners, book, days, p, PARTNERS_PER_CHUNK)
    wd.draw_terminations(rngs[3], partners, episodes, days, p)
    book = wd.end_book_at_terminations(book, partners, days)
    reps = wd.draw_reps(rngs[4], partners, episodes, days, p)
    return ev.World(
        partners=partners,
        book=book,
        episodes=episodes,
        reps=reps,
        season=season_multipliers(dates),
        days=days,
        params=p,
    )


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


class _TableBuilder:
    """Turns the simulated arrays into contract tables with canonical dtypes."""

    def __init__(self, origin: pd.Timestamp, world: ev.World) -> None:
        self.origin_s = int(origin.value // 1_000_000_000)
        self.world = world
        n = world.partners.n
        self.partner_ids = _ids("P", np.arange(1, n + 1))
        self.rep_ids = _ids("R", np.arange(1, len(world.reps.partner) + 1))
        self.psm_ids = _ids("PSM", np.arange(1, len(world.book.hired) + 1))

    def instant(self, days: np.ndarray) -> pd.Series:
        """Float days since the first local midnight as UTC instants (NaT if inf)."""
        finite = np.isfinite(days)
        seconds = np.zeros(len(days), dtype=np.int64)
        seconds[finite] = np.round(days[finite] * _SECONDS_PER_DAY).astype(np.int64)
        stamps = ((self.origin_s + seconds) * 1_000_000).astype("datetime64[us]")
        stamps[~finite] = np.datetime64("NaT")
        return pd.Series(
            pd.DatetimeIndex(stamps).tz_localize("UTC"), dtype=TIMESTAMP_DTYPE
        )

    def tables(
        self, raw: dict[str, list[dict[str, np.ndarray]]]
    ) -> dict[str, pd.DataFrame]:
        """All six tables; the raw event chunks are consumed (freed) on the way."""
        out = {
            "deals": self._deals(_concat(raw.pop("deals"))),
            "partners": self._partners(),
            "partner_reps": self._reps(),
            "interactions": self._interactions(_concat(raw.pop("interactions"))),
            "portal_views": self._views(_concat(raw.pop("portal_views"))),
            "psm_assignments": self._assignments(),
        }
        return {name: out[name][list(TABLES[name].column_names)] for name in TABLES}

    def truth(self) -> pd.DataFrame:
        eps, partners = self.world.episodes, self.world.partners
        has = np.isfinite(eps.start)
        recovered = pd.array(
            np.where(has, eps.recovery < self.world.days, False), dtype="boolean"
        )
        recovered[~has] = pd.NA
        stage = np.asarray(STAGES, dtype=object)[np.maximum(eps.root, 0)]
        return pd.DataFrame(
            {
                "partner_id": self.partner_ids,
                "decline_start": self.instant(
                    np.where(has, np.floor(eps.start), np.inf)
                ),
                "root_stage": _str(np.where(has, stage, None)),
                "silent_from": self.instant(eps.silent),
                "recovered": recovered,
                "terminated_at": self.instant(partners.terminated),
            }
        )

    def _partners(self) -> pd.DataFrame:
        p = self.world.partners
        rng = np.random.default_rng(p.n)
        heads = rng.integers(0, len(_NAME_HEADS), p.n)
        tails = rng.integers(0, len(_NAME_TAILS), p.n)
        names = [
            f"{_NAME_HEADS[h]} {_NAME_TAILS[t]} K.K."
            for h, t in zip(heads, tails, strict=True)
        ]
        return pd.DataFrame(
            {
                "partner_id": self.partner_ids,
                "name": _str(names),
                "tier": _codes(p.tier, TIERS),
                "region": _codes(p.region, REGIONS),
                "signed_at": self.instant(p.signed),
                "terminated_at": self.instant(p.terminated),
            }
        )

    def _reps(self) -> pd.DataFrame:
        r = self.world.reps
        return pd.DataFrame(
            {
                "rep_id": self.rep_ids,
                "partner_id": self.partner_ids.take(r.partner).reset_index(drop=True),
                "joined_at": self.instant(r.joined),
                "left_at": self.instant(r.left),
            }
        )

    def _assignments(self) -> pd.DataFrame:
        b = self.world.book
        order = np.lexsort((b.seg_start, b.seg_partner))
        return pd.DataFrame(
            {
                "partner_id": self._take(self.partner_ids, b.seg_partner[order]),
                "psm_id": self._take(self.psm_ids, b.seg_psm[order]),
                "assigned_at": self.instant(b.seg_start[order]),
                "unassigned_at": self.instant(b.seg_end[order]),
            }
        )

    def _deals(self, d: dict[str, np.ndarray]) -> pd.DataFrame:
        order = np.lexsort((d["partner"], d["at"]))
        d = {k: v[order] for k, v in d.items()}
        return pd.DataFrame(
            {
                "deal_id": _ids("D", np.arange(1, len(order) + 1)),
                "partner_id": self._take(self.partner_ids, d["partner"]),
                "registered_at": self.instant(d["at"]),
                "rep_id": self._take(self.rep_ids, d["rep"]),
                "closed_at": self.instant(d["closed"]),
                "outcome": _codes(d["outcome"], ev.OUTCOME_CODES),
                "stage": _codes(d["stage"], ev.STAGE_CODES),
                "amount": d["amount"].astype(np.float64),
                "product": _codes(d["product"], PRODUCTS),
            }
        )

    def _interactions(self, d: dict[str, np.ndarray]) -> pd.DataFrame:
        order = np.lexsort((d["partner"], d["at"]))
        d = {k: v[order] for k, v in d.items()}
        return pd.DataFrame(
            {
                "interaction_id": _ids("I", np.arange(1, len(order) + 1)),
                "partner_id": self._take(self.partner_ids, d["partner"]),
                "occurred_at": self.instant(d["at"]),
                "rep_id": self._take(self.rep_ids, d["rep"]),
                "direction": _codes(d["direction"], ev.DIRECTION_CODES),
                "kind": _codes(d["kind"], ev.KIND_CODES),
                "channel": _codes(d["channel"], CHANNELS),
                "responded_at": self.instant(d["responded"]),
            }
        )

    def _views(self, d: dict[str, np.ndarray]) -> pd.DataFrame:
        d["at"], order = _distinct_seconds(
            d["at"], d["partner"], d["rep"], d["asset"], len(self.rep_ids)
        )
        d = {k: v[order] for k, v in d.items()}
        return pd.DataFrame(
            {
                "partner_id": self._take(self.partner_ids, d["partner"]),
                "viewed_at": self.instant(d["at"]),
                "rep_id": self._take(self.rep_ids, d["rep"]),
                "asset": _codes(d["asset"], ASSETS),
            }
        )

    @staticmethod
    def _take(ids: pd.Series, codes: np.ndarray) -> pd.Series:
        return _take_str(ids.to_numpy(dtype=object), codes)


def _distinct_seconds(
    at: np.ndarray, partner: np.ndarray, rep: np.ndarray, asset: np.ndarray, reps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Views in whole seconds, moved back a second where they would repeat a row.

    Portal views have no id, so two views of one asset by one rep in the same second
    would be one row twice (the contract collapses exact duplicates). Returns the
    times in days and the order by time, then partner.
    """
    seconds = np.round(at * _SECONDS_PER_DAY).astype(np.int64)
    who = (partner.astype(np.int64) * (reps + 1) + rep + 1) * len(ASSETS) + asset
    while True:
        order = np.lexsort((who, seconds))
        same = (seconds[order][1:] == seconds[order][:-1]) & (
            who[order][1:] == who[order][:-1]
        )
        if not same.any():
            days: np.ndarray = seconds / _SECONDS_PER_DAY
            return days, order
        seconds[order[1:][same]] -= 1


def _ids(prefix: str, numbers: np.ndarray) -> pd.Series:
    """String ids like ``P00042``, zero-padded to the width of the largest number."""
    width = max(5, len(str(int(numbers.max(initial=0)))))
    return prefix + pd.Series(numbers).astype("str").str.zfill(width)


def _codes(codes: np.ndarray, labels: tuple[str, ...]) -> pd.Series:
    return _take_str(np.asarray(labels, dtype=object), codes)


def _take_str(labels: np.ndarray, codes: np.ndarray) -> pd.Series:
    """``labels[codes]`` as a ``str`` column; code -1 gives a missing value."""
    dictionary = pa.array(labels, type=pa.large_string())
    taken = dictionary.take(pa.array(codes, mask=codes < 0))
    return pd.Series(taken, dtype="str")


def _str(values: object) -> pd.Series:
    return pd.Series(values, dtype="str")
