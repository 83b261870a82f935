"""Checks on the files a command is asked to write, made before any work starts.

A command that reads a dataset must never write over it: ``--out DIR/deals.csv``
would replace the deals with a score table. The files of a dataset are the ``--data``
file itself (a DuckDB file) or, for a folder, every file directly inside it whose name
is a contract table, ``dataset.yaml`` or a column-mapping YAML, and any file with a
table suffix (``.csv``, ``.csv.gz``, ``.parquet``) when the folder is a mapped
export, whose tables may carry any name.
"""

from __future__ import annotations

from pathlib import Path

from ghost_model.contract import TABLES
from ghost_model.dataset import DATASET_FILE, DatasetConfig
from ghost_model.errors import ConfigError, GhostModelError
from ghost_model.loaders import TABLE_SUFFIXES


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


def dataset_files(data: Path) -> set[Path]:
    """The resolved paths of the files a dataset at ``data`` is read from."""
    data = data.resolve()
    if data.is_file():
        return {data}
    if not data.is_dir():
        return set()
    mapped = False
    config = data / DATASET_FILE
    if config.is_file():
        try:
            mapped = DatasetConfig.from_file(config).mapping is not None
        except GhostModelError:
            mapped = False  # loading the dataset reports the broken file itself
    files: set[Path] = set()
    for path in data.iterdir():
        name = path.name.lower()
        if path.is_file() and (
            name.split(".", 1)[0] in TABLES
            or name.endswith((".yaml", ".yml"))
            or (mapped and name.endswith(tuple(TABLE_SUFFIXES)))
        ):
            files.add(path.resolve())
    return files
