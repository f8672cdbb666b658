"""The one exception type that the tools turn into a single ``error:`` line."""


class ToolError(RuntimeError):
    """A user error (bad argument, missing or unreadable file) reported in one message.

    Args:
        message (str): The message, naming the file, key or option that is wrong.
        exit_code (int): The process exit status the tools use (2 for bad arguments, as
            argparse). Defaults to 1.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
