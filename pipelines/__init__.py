"""Runnable jobs that compose the ghost_model library: one module per command.

Each job module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and keeps
its heavy imports inside ``run`` so that ``ghost-model --help`` stays fast.
"""
