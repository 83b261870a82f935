"""Internals of the synthetic partner ecosystem (public: ``ghost_model.simulate``).

* ``params``: every knob of the story, with its default value;
* ``calendar``: the Japanese business calendar (fiscal peaks, holidays, weekends);
* ``world``: partners, PSM books, decline episodes, terminations and rep rosters;
* ``events``: the daily deal, interaction and portal-view streams they drive.
"""
