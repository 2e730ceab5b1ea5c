"""The mock's one JSON encoding, shared by the store's cached lead texts and the envelopes."""

from __future__ import annotations

import json

# Compact and ASCII: a lone surrogate in stored text cannot break the output.
json_text = json.JSONEncoder(separators=(",", ":")).encode
