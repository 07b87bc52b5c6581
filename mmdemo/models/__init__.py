"""Models. Importing a task's module registers its models."""
from . import vqa  # noqa: F401
from . import caption  # noqa: F401
from . import classify  # noqa: F401
from . import hf  # noqa: F401  (pretrained Hugging Face backends; loaded only when chosen)
