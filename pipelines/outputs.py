"""Checks on the files a command is asked to write, made before any work starts.

A command that reads a dataset must never write over it, nor add to it: ``--out
DIR/deals.csv`` would replace the deals with a score table, and ``--out
DIR/partners.csv`` in a folder without one would be read as the partners table the
next time. Which files belong to a dataset is
:func:`ghost_model.loaders.belongs_to_dataset`.
"""

from __future__ import annotations

from pathlib import Path

from ghost_model.errors import ConfigError
from ghost_model.loaders import belongs_to_dataset, dataset_files, is_mapped_folder


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
        When ``out`` has another ending, is a folder, is one of the dataset's own
        files (by any path, or a hard link to one), or is a file of the dataset's
        folder that a later load would read as part of the dataset.
    """
    if not out.name.lower().endswith(suffixes):
        raise ConfigError(
            f"{option} {str(out)!r}: expected a file ending in {', '.join(suffixes)}"
        )
    if out.is_dir():
        raise ConfigError(f"{option} {str(out)!r}: is a folder; name a file in it")
    target = out.resolve()
    files = dataset_files(data)
    if target in files or (target.exists() and any(_same(target, f) for f in files)):
        raise ConfigError(
            f"{option} {str(out)!r}: is a file of the dataset {str(data)!r} that this "
            "command reads; writing there would replace it. Write to another path."
        )
    folder = Path(data).resolve()
    if target.parent == folder and belongs_to_dataset(
        target.name, mapped=is_mapped_folder(folder)
    ):
        raise ConfigError(
            f"{option} {str(out)!r}: a file of that name in the dataset folder "
            f"{str(data)!r} is part of the dataset (a table, its settings or the "
            "simulator's truth); the next load would read it. Write to another path."
        )


def _same(a: Path, b: Path) -> bool:
    """Whether two existing paths are one file (a hard link counts)."""
    try:
        return a.samefile(b)
    except OSError:
        return False
