"""The application layer: the stage list and running a project through it (the only code, with the CLI,
that imports ``training`` and ``monitor``)."""
