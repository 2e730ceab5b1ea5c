"""Independent reference implementation of the Leads API, with switchable defects."""

from .app import create_app
from .defects import DEFECTS

__all__ = ["DEFECTS", "create_app"]
