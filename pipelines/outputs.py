"""Checks on the files a command is asked to write, made before any work starts.

A command that reads a dataset must never write over it: ``--out DIR/deals.csv``
would replace the deals with a score table. Which files belong to a dataset is
:func:`ghost_model.loaders.dataset_files`.
"""

from __future__ import annotations

from pathlib import Path

from ghost_model.errors import ConfigError
from ghost_model.loaders import dataset_files


def check_output(out: Path, option: str, suffixes: tuple[str, ...], data: Path) -> None:
    """Refuse an output of the wrong kind, or one that would replace a dataset file.

    Parameters
    ----------
    out
        The file the command will write.
    option
        Its command-line option, named in errors (``--out``).
    suffixes
        Accepted endings, lower case with the dot (``(".csv", ".parquet")``).
    data
        The ``--data`` the command reads.

    Raises
    ------
    ConfigError
        When ``out`` has another ending, is a folder, or is one of the dataset's
        own files.
    """
    if not out.name.lower().endswith(suffixes):
        raise ConfigError(
            f"{option} {str(out)!r}: expected a file ending in {', '.join(suffixes)}"
        )
    if out.is_dir():
        raise ConfigError(f"{option} {str(out)!r}: is a folder; name a file in it")
    target = out.resolve()
    if target in dataset_files(data):
        raise ConfigError(
            f"{option} {str(out)!r}: is a file of the dataset {str(data)!r} that this "
            "command reads; writing there would replace it. Write to another path."
        )
