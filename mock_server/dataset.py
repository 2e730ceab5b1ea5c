"""The data the mock starts with: generated, a fixtures file, or the built-in default."""

from __future__ import annotations

import json
from typing import Any

from . import sample_data
from .config import DEFAULT_FIXTURES, Settings
from .store import INTEREST_LEVELS, STATUSES


class DatasetError(ValueError):
    """The configured data set cannot be used; the message says why."""


def load_dataset(settings: Settings) -> dict[str, Any]:
    if settings.generate is not None:
        return sample_data.generate_dataset(settings.generate, settings.seed)
    path = settings.fixtures
    if path is None or (path == DEFAULT_FIXTURES and not path.is_file()):
        return sample_data.default_dataset()  # an installed package has no fixtures directory
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"cannot read fixtures {path}: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("leads"), list):
        raise DatasetError(f"fixtures {path} must be an object with a 'leads' list (and 'contacts', 'clients')")
    data.setdefault("contacts", [])
    data.setdefault("clients", [])
    for number, lead in enumerate(data["leads"]):
        if not isinstance(lead, dict) or not all(isinstance(lead.get(k), str) for k in
                                                 ("id", "name", "created_at", "updated_at")) \
                or lead.get("status") not in STATUSES or lead.get("interest_level") not in INTEREST_LEVELS:
            raise DatasetError(f"fixtures {path}: lead #{number} needs id, name, created_at and updated_at strings, "
                               f"a status of {STATUSES} and an interest_level of {INTEREST_LEVELS}")
    return data
