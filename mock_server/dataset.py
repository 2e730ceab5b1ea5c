"""The data the mock starts with: generated, a fixtures file, or the built-in default."""

from __future__ import annotations

import json
from typing import Any

from . import sample_data
from .config import DEFAULT_FIXTURES, Settings
from .records_check import RecordsError, check_dataset


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
    try:
        return check_dataset(data)
    except RecordsError as error:
        raise DatasetError(f"fixtures {path}: {error}") from None
