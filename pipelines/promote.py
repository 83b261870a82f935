"""``ghost-model promote [--rollback]``: move the ``champion`` alias, or move it back.

Without options the candidate becomes champion when its backtest PR-AUC is at least
the champion's on the same backtest (the first model always does). ``--rollback``
points ``champion`` at the version the current champion replaced.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ghost-model promote``."""
    parser.add_argument(
        "--rollback",
        action="store_true",
        help="move champion back to the version it replaced",
    )


def run(args: argparse.Namespace) -> int:
    """Apply the promotion gate (or roll back) and print the decision; 0 on success.

    A rejected candidate is a normal outcome and also exits 0; the decision line
    says what happened.
    """
    from ghost_model.registry import promote
    from ghost_model.settings import Settings

    decision = promote(Settings(), rollback=args.rollback)
    print(
        f"{decision.action}: {decision.reason} (champion: v{decision.champion_after})"
    )
    return 0
