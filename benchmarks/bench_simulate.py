"""Time and peak memory of the simulator: 20,000 partners x 36 months.

The baseline is the default demo size (2,000 partners x 36 months), measured in the
same run, so the ratios say how the simulator scales on this machine.

Peak memory is shown two ways: tracemalloc's peak of traced allocations (numpy and
Python objects) per run, and the process's peak resident set size (ru_maxrss), which
also counts Arrow buffers and is cumulative over the process.

Run: ``.venv/bin/python benchmarks/bench_simulate.py [--partners N] [--months M]``.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass

from ghost_model.simulate import simulate_ecosystem

GIB = 1024**3


@dataclass
class Run:
    """One measured simulation."""

    partners: int
    months: int
    seconds: float
    events: int
    traced_peak: int
    rss_peak: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


def measure(partners: int, months: int) -> Run:
    """Simulate once and return its time, event count and peak memory."""
    gc.collect()
    tracemalloc.start()
    begin = time.perf_counter()
    eco = simulate_ecosystem(partners=partners, months=months)
    seconds = time.perf_counter() - begin
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    events = sum(len(t) for t in eco.tables.values())
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del eco
    return Run(partners, months, seconds, events, traced_peak, rss_kib * 1024)


def report(run: Run, label: str) -> None:
    print(
        f"{label:<9} {run.partners:>6} partners x {run.months} months: "
        f"{run.events:>12,} rows in {run.seconds:7.1f} s = "
        f"{run.events_per_second:>12,.0f} rows/s; traced peak "
        f"{run.traced_peak / GIB:5.2f} GiB, "
        f"process max RSS {run.rss_peak / GIB:5.2f} GiB"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args(argv)

    baseline = measure(2_000, args.months)
    report(baseline, "baseline")
    large = measure(args.partners, args.months)
    report(large, "large")
    print(
        f"ratio large/baseline: partners x{large.partners / baseline.partners:.1f}, "
        f"rows x{large.events / baseline.events:.1f}, "
        f"time x{large.seconds / baseline.seconds:.1f}, "
        f"rows/s x{large.events_per_second / baseline.events_per_second:.2f}, "
        f"traced peak x{large.traced_peak / baseline.traced_peak:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
