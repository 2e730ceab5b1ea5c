"""Checks compiled once from the spec's schemas, with the API's own readings of them.

Formats are really checked (`uuid`, `date-time`), patterns read as ECMA-262 (as every
client reads them), and values normalised: date-times to UTC, `pattern: \\S` text trimmed.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .timestamps import format_ms, parse_datetime

# The spec's email pattern (the documented rule: `local@domain`, no spaces, exactly one `@`).
EMAIL_PATTERN = r"^[^\s@]+@[^\s@]+$"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "object": "an object", "array": "an array"}
Normalised = tuple[Any, str | None]  # (value to use, problem or None)


# JavaScript's whitespace: what `\s` means in the spec's ECMA-262 patterns and what a JS trim() removes.
# Python's `\s` and str.strip() differ: they also take \x1c-\x1f and \x85, and miss \ufeff.
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    map(chr, range(0x2000, 0x200B)))
_JS_SPACE = re.escape(JS_WHITESPACE)  # the inside of a character class


def ecma_pattern(pattern: str) -> re.Pattern[str]:
    r"""A spec pattern compiled with ECMA-262 meanings for `\s`, `\S` and `\d`, as clients read it."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escape = pattern[i + 1]
            if escape == "s":
                out.append(_JS_SPACE if in_class else f"[{_JS_SPACE}]")
            elif escape == "S" and not in_class:
                out.append(f"[^{_JS_SPACE}]")
            elif escape == "d":
                out.append("0-9" if in_class else "[0-9]")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        in_class = (in_class and char != "]") or (not in_class and char == "[")
        # ECMA-262's `$` is the end of input; Python's also matches before a final newline.
        out.append(r"\Z" if char == "$" and not in_class else char)
        i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class Rule:
    """The checks of one schema (a property or a parameter), taken from the spec once."""

    name: str
    type: str
    nullable: bool = False
    enum: tuple[Any, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    format: str | None = None
    source_pattern: str | None = None
    trim: bool = False  # `pattern: \S` marks text stored trimmed that must not be blank

    @classmethod
    def from_schema(cls, name: str, schema: Mapping[str, Any]) -> Rule:
        schema = _merged(schema)
        pattern = schema.get("pattern")
        return cls(
            name=name, type=schema.get("type", "string"), nullable=bool(schema.get("nullable")),
            enum=tuple(schema["enum"]) if "enum" in schema else None,
            min_length=schema.get("minLength"), max_length=schema.get("maxLength"),
            pattern=ecma_pattern(pattern) if pattern else None,
            minimum=schema.get("minimum"), maximum=schema.get("maximum"), format=schema.get("format"),
            source_pattern=pattern, trim=pattern == r"\S",
        )

    def check(self, value: Any) -> Normalised:
        name = self.name
        if value is None:
            return (None, None) if self.nullable else (None, f"{name} must not be null")
        if not self._has_type(value):
            return value, f"{name} must be {_TYPE_NAMES.get(self.type, self.type)}"
        if self.enum is not None and value not in self.enum:
            return value, f"{value!r} is not one of {list(self.enum)!r}"
        if isinstance(value, str):
            return self._check_string(value)
        if self.minimum is not None and value < self.minimum:
            return value, f"{name} must be at least {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return value, f"{name} must be at most {self.maximum}"
        return value, None

    def _has_type(self, value: Any) -> bool:
        if self.type == "string":
            return isinstance(value, str)
        if isinstance(value, bool):  # bool is an int subclass, never a JSON number
            return self.type == "boolean"
        if self.type == "integer":
            return isinstance(value, int)
        if self.type == "number":  # within a double's range, as JSON readers hold numbers
            if isinstance(value, float):
                return math.isfinite(value)
            return isinstance(value, int) and abs(value) <= sys.float_info.max
        return self.type == "object" and isinstance(value, dict) or self.type == "array" and isinstance(value, list)

    def _check_string(self, value: str) -> Normalised:
        name = self.name
        # Text stored trimmed is measured trimmed: a padded name that trims to 255 characters is accepted.
        length = len(value.strip(JS_WHITESPACE)) if self.trim else len(value)
        if self.min_length is not None and length < self.min_length:
            return value, f"{name} must not be empty" if self.min_length == 1 else \
                f"{name} must be at least {self.min_length} characters"
        if self.max_length is not None and length > self.max_length:
            return value, f"{name} must be at most {self.max_length} characters"
        if self.format == "uuid" and not _UUID.fullmatch(value):
            return value, f"{name} must be a UUID"
        if self.pattern is not None and not self.pattern.search(value):
            if self.trim:
                return value, f"{name} must contain a non-space character"
            if self.source_pattern == EMAIL_PATTERN:
                return value, f"{name} must be an email address: local@domain, no spaces, exactly one @"
            return value, f"{name} must match the pattern {self.source_pattern}"
        if self.format == "date-time":
            ms = parse_datetime(value)
            if ms is None:
                return value, f"{name} must be an RFC 3339 date-time, e.g. 2026-07-01T22:52:30.664Z"
            return format_ms(ms), None  # stored and served in UTC
        if self.trim:
            return value.strip(JS_WHITESPACE), None  # a name is stored trimmed
        return value, None


def _merged(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema with its `allOf` parts folded in (the spec wraps references to add a description or default)."""
    merged = {key: value for key, value in schema.items() if key != "allOf"}
    for part in schema.get("allOf", ()):
        for key, value in _merged(part).items():
            merged.setdefault(key, value)
    return merged
