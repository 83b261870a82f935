"""The knobs of the synthetic partner ecosystem, with the values of the default story.

Rates are per day unless named otherwise; durations are in days. The defaults are
tuned so that the task is realistic and not easy (see ``docs/simulator.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

TIERS: tuple[str, ...] = ("platinum", "gold", "silver", "registered")
REGIONS: tuple[str, ...] = (
    "Kanto",
    "Kansai",
    "Chubu",
    "Kyushu",
    "Tohoku",
    "Chugoku",
    "Hokkaido",
    "Shikoku",
)
PRODUCTS: tuple[str, ...] = (
    "Cloud Suite",
    "Analytics",
    "Security Pack",
    "Support Plan",
    "Training",
)
CHANNELS: tuple[str, ...] = ("email", "phone", "web meeting", "chat", "visit")
ASSETS: tuple[str, ...] = (
    "price list",
    "product deck",
    "case studies",
    "deal registration guide",
    "training videos",
    "roadmap",
    "shared sales sheet",
)


@dataclass(frozen=True)
class SimulationParams:
    """The simulator's knobs; the defaults tell the default story.

    Smaller shape constants (time of day, channel and asset mixes, kind mixes of
    outbound messages) stay in the code that uses them.
    """

    # partners: tier mix, deals per month (median) and size (rep slots) per tier
    tier_shares: tuple[float, ...] = (0.05, 0.15, 0.35, 0.45)
    region_shares: tuple[float, ...] = (0.38, 0.2, 0.14, 0.08, 0.06, 0.06, 0.05, 0.03)
    deals_per_month: tuple[float, ...] = (5.0, 2.4, 1.05, 0.5)
    deal_rate_sigma: float = 0.35
    rep_slots_mean: tuple[float, ...] = (9.0, 5.0, 2.5, 1.0)
    win_rate: tuple[float, ...] = (0.5, 0.45, 0.4, 0.35)
    amount_median_jpy: tuple[float, ...] = (3.2e6, 1.9e6, 1.1e6, 0.6e6)
    signed_during_share: float = 0.15
    # partners who propose mostly when budgets close (March, September)
    budget_cycle_share: float = 0.3
    budget_cycle_exponent: float = 3.0

    # natural burstiness: weekly log-rate AR(1), stronger for small partners
    burst_phi: float = 0.9
    burst_sd: tuple[float, ...] = (0.4, 0.5, 0.65, 0.85)

    # reps: tenure, replacement gap, never-selling share, seller weight spread
    rep_tenure_days: float = 1100.0
    rep_gap_days: float = 45.0
    never_sell_share: float = 0.3
    seller_weight_sigma: float = 0.8
    roster_floor: float = 0.08

    # PSMs: partners per PSM, departures, reshuffles, overload
    partners_per_psm: float = 55.0
    psm_capacity_sigma: float = 0.45
    psm_tenure_days: float = 1000.0
    reassign_per_day: float = 1.0 / 1400.0
    april_reshuffle_share: float = 0.1
    overload_threshold: float = 1.2

    # decline episodes: hazards per day, lags between stages, recovery
    hazard_sellability: float = 1.0 / 8000.0
    hazard_distance: float = 1.0 / 14000.0
    hazard_priority: float = 1.0 / 12000.0
    hazard_overload: float = 1.0 / 8000.0
    reassign_trigger: float = 0.1
    lag_sell_to_distance: float = 75.0
    lag_distance_to_priority: float = 60.0
    lag_priority_to_silence: float = 60.0
    ramp_days: float = 30.0
    recovery_share: float = 0.3
    # what a fully developed stage does (severity 1)
    deal_rate_drop: tuple[float, ...] = (0.25, 0.2, 0.45)
    win_rate_drop: float = 0.7
    close_time_growth: float = 1.5
    stall_share: tuple[float, float] = (0.06, 0.45)
    question_drop: float = 0.75
    consultation_drop: float = 0.8
    report_growth: float = 1.5
    view_drop: float = 0.75
    response_growth: float = 1.5
    seller_exit_share: float = 0.65
    terminate_after_silence: float = 0.45
    abrupt_termination_share: float = 0.012

    # interactions and portal views (per month, median partner of each tier)
    inbound_per_month: tuple[float, ...] = (18.0, 8.0, 4.0, 1.6)
    outbound_per_month: tuple[float, ...] = (10.0, 5.0, 2.5, 1.2)
    views_per_month: tuple[float, ...] = (180.0, 72.0, 30.0, 12.0)
    response_median_hours: float = 5.0
