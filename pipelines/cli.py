"""The ``ghost-model`` command: one sub-command per job module in ``pipelines``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from ghost_model.errors import GhostModelError

COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("pipelines.simulate", "write the synthetic partner ecosystem"),
    "validate": ("pipelines.validate", "check a dataset against the data contract"),
    "features": ("pipelines.features", "build the point-in-time feature table"),
    "train": ("pipelines.train", "backtest, train and register a model"),
    "promote": ("pipelines.promote", "move the champion alias (or roll it back)"),
    "score": ("pipelines.score", "score partners with explanations"),
    "report": ("pipelines.report", "write the HTML risk report"),
    "serve": ("pipelines.serve", "run the scoring service for a CRM"),
    "demo": ("pipelines.demo", "run the whole job on the synthetic ecosystem"),
}

log = logging.getLogger("ghost_model")


def configure_logging(verbose: bool) -> None:
    """Send ghost_model's log lines to stderr, one line each."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "alembic", "mlflow", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # the commands log their own steps; MLflow's bar for each artifact download
    # (a model load) only adds lines. MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=true
    # in the environment brings it back.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser; only the chosen sub-command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="ghost-model",
        description="Warns partner-sales teams before a partner quietly stops selling.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log step detail")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``ghost-model`` sub-command and return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(args_list).parse_args(args_list)
    configure_logging(args.verbose)
    try:
        status: int = args.run(args)
    except GhostModelError as exc:
        print(f"ghost-model {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # a file the command cannot read or write (the message names the path);
        # -v shows where it happened
        log.debug("file error in %s", args.command, exc_info=True)
        print(f"ghost-model {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
