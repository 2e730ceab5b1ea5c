"""The mock's control panel: one page at `/__mock/`, plain HTML, CSS and JavaScript served from this package."""

from .routes import ControlPanel

__all__ = ["ControlPanel"]
