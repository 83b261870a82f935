"""Cut the committed sample of Online Retail II from the full two files.

Keeps every row (purchases and credit notes, both files, overlap included) of a random
set of customers, plus a few guest rows without a customer id, so that the real-data
mapping meets every case it handles. Run from the repository root with the folder
of the full files as argument::

    python tests/data/sample/online-retail-ii/make_sample.py FULL_DATA_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

FILES = {
    "online_retail_II_2009-2010.parquet": "Customer ID",
    "online_retail_2010-2011.parquet": "CustomerID",
}
CUSTOMERS = 300
GUEST_ROWS = 200
DROPPED = ("Description",)


def main(source: Path, out: Path = Path(__file__).parent) -> None:
    """Write the sample files of ``source`` into ``out``."""
    frames = {name: pd.read_parquet(source / name) for name in FILES}
    ids = sorted(set().union(*(set(f[FILES[n]].dropna()) for n, f in frames.items())))
    rng = np.random.default_rng(20091201)
    chosen = set(rng.choice(ids, size=CUSTOMERS, replace=False).tolist())
    for name, frame in frames.items():
        column = FILES[name]
        keep = frame[column].isin(chosen)
        guests = frame.index[frame[column].isna()]
        keep.loc[rng.choice(guests, size=GUEST_ROWS, replace=False)] = True
        sample = frame[keep].drop(columns=list(DROPPED))
        sample.to_parquet(out / name, index=False, compression="zstd")
        print(f"{name}: {len(sample)} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
