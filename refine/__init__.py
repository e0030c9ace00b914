"""refine: feedback-driven customer segment refinement."""

__version__ = "0.1.0"

from refine.errors import RefineError

__all__ = ["RefineError", "__version__"]
