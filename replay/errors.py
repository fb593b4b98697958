"""The one exception type user mistakes raise: the CLI prints its message as one line."""


class SpeedrunError(Exception):
    """An error caused by the user's input or environment, reported without a traceback."""
