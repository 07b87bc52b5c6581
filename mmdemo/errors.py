"""The one error class of mmdemo: raised for any input or model problem a person can fix."""


class MMDemoError(ValueError):
    """A problem with the input (or a checkpoint), described in words a person understands."""
