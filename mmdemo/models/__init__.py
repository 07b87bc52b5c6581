"""Models. Importing a task's module registers its models."""
from . import vqa  # noqa: F401
from . import caption  # noqa: F401
