"""The exceptions ghost_model raises on purpose.

::

    GhostModelError
    ├── DataContractError      a dataset breaks the contract (file, row, column, rule)
    ├── MappingError           a column-mapping file does not fit its export
    ├── ConfigError            a setting or argument is out of its allowed range
    └── ModelNotReadyError     no trained / promoted model where one is needed

Every message names the place, shows the bad value with ``!r``, states the rule and
says what to do next.
"""


class GhostModelError(Exception):
    """Base class of every error ghost_model raises on purpose."""


class DataContractError(GhostModelError):
    """A dataset breaks the data contract."""


class MappingError(GhostModelError):
    """A column-mapping file does not fit the export it describes."""


class ConfigError(GhostModelError):
    """A setting or an argument is outside what ghost_model accepts."""


class ModelNotReadyError(GhostModelError):
    """A trained or promoted model is needed but none is available."""
