"""Errors a user can fix (bad input): the CLI maps them to exit code 2."""


class InputError(ValueError):
    """Bad input: the message names the row, column or parameter and says what to do."""
