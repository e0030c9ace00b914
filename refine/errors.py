"""The one exception type a user mistake raises; the CLI prints it as one line."""


class RefineError(Exception):
    """A problem with the user's input, config or files: says what and where in one line."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
