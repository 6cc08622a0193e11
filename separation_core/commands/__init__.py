"""Subcommands of the command line, one module each (``add_parser`` and ``run``)."""
