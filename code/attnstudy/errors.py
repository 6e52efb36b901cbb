"""One error type for everything a user can fix: the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """Bad input (data, config, CLI arguments, stale results); the message says what to do."""
