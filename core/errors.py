"""User-facing errors.

Anything a user can cause (bad dataset name, missing file, malformed row, unknown item, SID map
mismatch) raises `SidLensError` with a one-line message that names the problem. The CLI prints it
as `error: <message>` and exits with status 2; the app shows it with st.error. Programming errors
stay ordinary exceptions so they are not disguised as user mistakes.
"""


class SidLensError(Exception):
    """A problem with the user's input or environment, reported as one line."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
