"""The real speedrun's records, imported from a modded-nanogpt checkout as the ``nanogpt`` track.

The import itself, the readers of the speedrun's README record table and of its training
logs, the labels and hints this project ships for those records (``labels/``), the TOML
writer that renders their ``record.toml``, and the renumbering of tracks imported before a
record's index was its README number.
"""
