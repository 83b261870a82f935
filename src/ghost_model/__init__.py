"""ghost_model: early warning for partners that are about to go silent.

The library holds the data contract and loaders, the synthetic partner ecosystem,
point-in-time features by stage, training with a rolling backtest, explanations and
registry access. The runnable jobs live in ``pipelines/`` and the HTTP service in
``serving/``; both import this package, never the reverse.
"""

__version__ = "0.1.0"
