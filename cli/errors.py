"""A user's mistake on the command line: printed as one line, without a traceback, exit 2."""


class CliError(Exception):
    pass
