"""The kit's data files, the spec and the default fixtures, in a checkout or in an installed wheel.

The repository keeps one `openapi.yaml` and one `fixtures/leads.json` at its top level; the
wheel's build copies both into this package (see `setup.py`). Code asks here, never for a path
relative to its own module, so that it works the same from a clone and from site-packages.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SPEC_NAME = "openapi.yaml"
FIXTURES_NAME = "leads.json"
_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def _data_file(packaged: str, in_checkout: Path) -> Path:
    """The copy the wheel installed, else the checkout's own file (editable installs and clones)."""
    installed = resources.files(__name__).joinpath(packaged)
    if installed.is_file():
        return Path(str(installed))
    return in_checkout


def spec_path() -> Path:
    """`openapi.yaml`: the document the mock routes by and the contract suite checks against."""
    return _data_file(SPEC_NAME, _CHECKOUT_ROOT / SPEC_NAME)


def fixtures_path() -> Path:
    """The default data set of the mock (34 leads); may be missing, then the built-in one is used."""
    return _data_file(FIXTURES_NAME, _CHECKOUT_ROOT / "fixtures" / FIXTURES_NAME)
