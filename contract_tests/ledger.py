"""The leads this run created: the suite may change or delete only those.

The suite must be safe against a real server. `CreatedLeads` is the record, shared by every
client of a run, and `cleanup.clean_up()` deletes whatever is still alive when the run ends.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CreatedLeads:
    """Ids of the leads this run created, per API key, until they are deleted.

    With `record_to`, every creation and deletion is also appended to that file as it happens,
    so that the controlling process can clean up after a parallel worker that was stopped
    (a Ctrl-C) before it could.
    """

    record_to: Path | None = None
    _alive: dict[str, set[str]] = field(default_factory=dict)
    _ever: set[str] = field(default_factory=set)
    _gone: dict[str, list[str]] = field(default_factory=dict)  # per key, the leads whose DELETE was answered
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, api_key: str, lead_id: str) -> None:
        with self._lock:
            self._alive.setdefault(api_key, set()).add(lead_id)
            self._ever.add(lead_id.lower())
            self._append("+", api_key, lead_id)

    @classmethod
    def replay(cls, records: list[Path]) -> CreatedLeads:
        """The leads that the recorded runs created and did not delete, in one ledger."""
        ledger = cls()
        for path in records:
            for line in path.read_text(encoding="utf-8").splitlines():
                sign, api_key, lead_id = (json.loads(line) + [None, None, None])[:3]
                if sign == "+":
                    ledger.add(api_key, lead_id)
                elif sign == "-":
                    ledger.discard(api_key, lead_id)
        return ledger

    def _append(self, sign: str, api_key: str, lead_id: str) -> None:
        if self.record_to is not None:
            with self.record_to.open("a", encoding="utf-8") as file:
                file.write(json.dumps([sign, api_key, lead_id]) + "\n")

    def created_in_run(self, lead_id: str) -> bool:
        """Whether this run created the lead, deleted since or not (ids compare case-insensitively)."""
        with self._lock:
            return lead_id.lower() in self._ever

    def discard(self, api_key: str, lead_id: str) -> None:
        with self._lock:
            alive = self._alive.get(api_key, set())
            if lead_id in alive:
                alive.discard(lead_id)
                self._gone.setdefault(api_key, []).append(lead_id)
            self._append("-", api_key, lead_id)

    def deleted(self, most: int) -> list[tuple[str, str]]:
        """(key, id) of at most `most` leads of this run whose DELETE was answered, the latest of each key first."""
        with self._lock:
            per_key = [(key, ids[::-1]) for key, ids in self._gone.items()]
        picked: list[tuple[str, str]] = []
        for index in range(max((len(ids) for _, ids in per_key), default=0)):
            picked += [(key, ids[index]) for key, ids in per_key if index < len(ids)]
        return picked[:most]

    def created_count(self) -> int:
        with self._lock:
            return len(self._ever)

    def owns(self, lead_id: str) -> bool:
        with self._lock:
            return any(lead_id in ids for ids in self._alive.values())

    def alive(self) -> dict[str, set[str]]:
        with self._lock:
            return {key: set(ids) for key, ids in self._alive.items() if ids}
