"""The ``speedrun`` command line: the composition root (``app``), one module per command group,
and the console output (progress, tables) they share."""
