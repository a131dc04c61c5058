"""Errors shared by every layer of simreal."""


class UserError(Exception):
    """Bad input from the user (unknown task, missing camera, corrupt dataset, ...).

    The CLI prints it as one line naming the problem and exits with code 2; nothing is changed.
    """
