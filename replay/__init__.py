"""Replay: the spine of speedrun, in subpackages by concern, layered bottom to top.

- ``errors``, ``paths``, ``atomic``, ``statuses``: what every layer shares (the user-error
  type, where files live, atomic writes, the enums of statuses and roles).
- ``score``: the deterministic log parser, grading, statistics and replay reports.
- ``data``: the mini track's corpus, token shards, FineWeb.
- ``records``: the records repository, ``record.toml``, ``records add``, the work repository,
  the qualified names a script defines.
- ``run``: the replayer, executors, sandbox, per-record environments, provenance, the result cache.
- ``importer``: the real speedrun's records imported from a modded-nanogpt checkout, with our labels.
- ``cli``: the ``speedrun`` command line, the composition root above ``analysis`` and ``agent``.

A module imports only its own subpackage and those listed before it (``cli`` imports
everything); ``tests/test_layers.py`` holds the code to that.
"""
