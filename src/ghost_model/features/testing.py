"""Random contract datasets for tests and benchmarks of the feature definitions.

Unlike the ecosystem simulator these tables tell no story: events are scattered
uniformly, a share of them on the exact midnight of a day in the dataset's zone, so
that every cutoff boundary is exercised.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ghost_model.dataset import Dataset, DatasetConfig

TIMESTAMP_DTYPE: Literal["datetime64[us, UTC]"] = "datetime64[us, UTC]"

ALL_TABLES = (
    "deals",
    "partners",
    "partner_reps",
    "interactions",
    "portal_views",
    "psm_assignments",
)


def random_dataset(
    partners: int = 12,
    days: int = 400,
    events_per_partner: int = 40,
    *,
    seed: int = 0,
    timezone: str = "Asia/Tokyo",
    start: str = "2023-01-01",
    tables: tuple[str, ...] = ALL_TABLES,
) -> Dataset:
    """A small random dataset in canonical dtypes.

    Parameters
    ----------
    partners
        Number of partners.
    days
        Length of the period; the extract time is its end.
    events_per_partner
        Average number of deals per partner (interactions and views are twice that).
    seed
        Seed of the random generator.
    timezone
        The dataset's zone.
    start
        First local day of the period.
    tables
        The tables to include (``deals`` always is).

    Returns
    -------
    Dataset
        The tables and a config with ``timezone`` and the extract time.
    """
    rng = np.random.default_rng(seed)
    origin = pd.Timestamp(start).tz_localize(timezone).tz_convert("UTC")
    end = origin + pd.Timedelta(days=days)
    ids = [f"P{i:03d}" for i in range(partners)]

    def instants(n: int, lo: float = 0.0, hi: float = float(days)) -> pd.Series:
        offsets = rng.uniform(lo, hi, n)
        on_midnight = rng.random(n) < 0.2
        offsets[on_midnight] = np.floor(offsets[on_midnight])
        stamps = origin + pd.to_timedelta(np.round(offsets * 86400), unit="s")
        return pd.Series(stamps).astype(TIMESTAMP_DTYPE)

    def pick(values: list[str], n: int) -> pd.Series:
        return pd.Series(rng.choice(values, n), dtype="str")

    out: dict[str, pd.DataFrame] = {}
    reps = [f"R{i:04d}" for i in range(partners * 4)]
    rep_partner = {r: ids[i // 4] for i, r in enumerate(reps)}

    n = partners * events_per_partner
    deal_partner = pick(ids, n)
    registered = instants(n, 0, days - 1)
    age = pd.to_timedelta(np.round(rng.exponential(40, n) * 86400), unit="s")
    closed = (registered + age).where(rng.random(n) < 0.85)
    closed = closed.where(closed < end)
    outcome = np.where(
        closed.isna(), "open", np.where(rng.random(n) < 0.4, "won", "lost")
    )
    own_rep = [f"R{ids.index(p) * 4 + rng.integers(0, 4):04d}" for p in deal_partner]
    rep_col = pd.Series(own_rep, dtype="str").where(rng.random(n) < 0.9)
    out["deals"] = pd.DataFrame(
        {
            "deal_id": pd.Series([f"D{i:06d}" for i in range(n)], dtype="str"),
            "partner_id": deal_partner,
            "registered_at": registered,
            "rep_id": rep_col,
            "closed_at": closed.astype(TIMESTAMP_DTYPE),
            "outcome": pd.Series(outcome, dtype="str"),
            "amount": rng.gamma(2.0, 5000.0, n),
        }
    )
    if "partners" in tables:
        signed = instants(partners, -400, 30)
        terminated = instants(partners, days / 2, days).where(
            rng.random(partners) < 0.2
        )
        out["partners"] = pd.DataFrame(
            {
                "partner_id": pd.Series(ids, dtype="str"),
                "name": pd.Series([f"Partner {i}" for i in ids], dtype="str"),
                "tier": pick(["gold", "silver", "bronze"], partners),
                "signed_at": signed,
                "terminated_at": terminated.astype(TIMESTAMP_DTYPE),
            }
        )
    if "partner_reps" in tables:
        joined = instants(len(reps), -300, days - 30)
        stay = pd.to_timedelta(np.round(rng.exponential(300, len(reps)) * 86400), "s")
        left = (joined + stay).where(lambda s: s < end)
        out["partner_reps"] = pd.DataFrame(
            {
                "rep_id": pd.Series(reps, dtype="str"),
                "partner_id": pd.Series([rep_partner[r] for r in reps], dtype="str"),
                "joined_at": joined,
                "left_at": left.astype(TIMESTAMP_DTYPE),
            }
        )
    if "interactions" in tables:
        m = 2 * n
        occurred = instants(m, 0, days)
        wait = pd.to_timedelta(np.round(rng.exponential(2.0, m) * 86400), unit="s")
        responded = (occurred + wait).where(rng.random(m) < 0.8)
        out["interactions"] = pd.DataFrame(
            {
                "interaction_id": pd.Series(
                    [f"I{i:06d}" for i in range(m)], dtype="str"
                ),
                "partner_id": pick(ids, m),
                "occurred_at": occurred,
                "direction": pick(["inbound", "inbound", "outbound"], m),
                "kind": pick(["question", "consultation", "report", "other"], m),
                "channel": pick(["email", "phone"], m),
                "responded_at": responded.where(responded < end).astype(
                    TIMESTAMP_DTYPE
                ),
            }
        )
    if "portal_views" in tables:
        m = 2 * n
        out["portal_views"] = pd.DataFrame(
            {
                "partner_id": pick(ids, m),
                "viewed_at": instants(m, 0, days),
                "asset": pick(["pricing", "deck", "faq"], m),
            }
        )
    if "psm_assignments" in tables:
        rows = []
        psms = [f"M{i}" for i in range(max(2, partners // 4))]
        for pid in ids:
            t = origin - pd.Timedelta(days=int(rng.integers(0, 300)))
            while t < end:
                stay_days = int(rng.integers(60, 400))
                stop = t + pd.Timedelta(days=stay_days)
                rows.append(
                    (pid, str(rng.choice(psms)), t, stop if stop < end else pd.NaT)
                )
                t = stop
        frame = pd.DataFrame(
            rows, columns=["partner_id", "psm_id", "assigned_at", "unassigned_at"]
        )
        frame["partner_id"] = frame["partner_id"].astype("str")
        frame["psm_id"] = frame["psm_id"].astype("str")
        for col in ("assigned_at", "unassigned_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True).astype(TIMESTAMP_DTYPE)
        out["psm_assignments"] = frame
    config = DatasetConfig(timezone=timezone, extract_time=end, name="random")
    return Dataset(tables=out, config=config, source="random")
