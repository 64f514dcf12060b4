"""The one exception type that means "the user's input is wrong", not "the code is wrong".

Command-line entry points catch it and print its message (which names the file, line or
key at fault) instead of a traceback.
"""


class UserError(Exception):
    """Bad input from the user: a config, model, data file or argument. Message says where."""
