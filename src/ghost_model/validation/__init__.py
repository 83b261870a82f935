"""The data contract's rules: conversion, pandera schemas, strict and quarantine modes.

:func:`validate_tables` is the entry point for frames already in memory;
:func:`ghost_model.loaders.load_dataset` reads files and calls it.
"""

from ghost_model.validation.validate import (
    MAX_LISTED,
    QUARANTINE_MARKER,
    Origin,
    check_quarantine_dir,
    check_tables,
    validate_tables,
)

__all__ = [
    "MAX_LISTED",
    "QUARANTINE_MARKER",
    "Origin",
    "check_quarantine_dir",
    "check_tables",
    "validate_tables",
]
