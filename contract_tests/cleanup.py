"""The end of a run: delete every lead it created and still holds, and say what could not be deleted."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from contract_tests.client import GarbageResponse, LeadsClient
from contract_tests.findings import answer_text
from contract_tests.ledger import CreatedLeads
from contract_tests.waits import WaitBudget

LEFT_FILE = "leads-left.txt"
CONCURRENT_DELETES = 4
CHECKED_AFTER_DELETE = 10  # leads read back once their DELETE was answered: a server that keeps them shows


@dataclass
class CleanupRecord:
    created: int = 0
    deleted: int = 0
    left: list[dict[str, str]] = field(default_factory=list)  # {"id", "answer"}
    checked: int = 0  # leads read back after their DELETE was answered
    still_readable: list[str] = field(default_factory=list)  # of those, the ones a GET still answered 200


def clean_up(base_url: str, ledger: CreatedLeads, waits: WaitBudget, *, read_back: bool = True,
             timeout: float = 10.0) -> CleanupRecord:
    """Deletes what is alive in `ledger`; a refused delete is kept with its answer (status and code). With
    `read_back` (the run's last cleanup), a few deleted leads are read back."""
    alive = ledger.alive()
    record = CleanupRecord(created=ledger.created_count())
    for api_key, lead_ids in alive.items():
        client = LeadsClient(base_url, api_key, ledger, timeout=timeout, waits=waits, block_on_failure=False,
                             stops_on_interrupt=False)

        def delete(lead_id: str, client: LeadsClient = client) -> dict[str, str] | None:
            try:
                response = client.request("DELETE", f"/leads/{lead_id}")
            except GarbageResponse as exc:
                return {"id": lead_id, "answer": f"no answer ({exc})"[:120]}
            return None if response.status_code in (200, 404) else {"id": lead_id, "answer": answer_text(response)}

        try:
            # A few at a time: against a far server the deletes' round trips, not the server, take the time.
            with ThreadPoolExecutor(max_workers=CONCURRENT_DELETES) as pool:
                record.left += [left for left in pool.map(delete, sorted(lead_ids)) if left is not None]
        finally:
            client.close()
    record.deleted = record.created - len(record.left)
    if read_back:
        _read_back(base_url, ledger, waits, record, timeout)
    return record


def _read_back(base_url: str, ledger: CreatedLeads, waits: WaitBudget, record: CleanupRecord, timeout: float) -> None:
    """GETs a few deleted leads: a DELETE answered 200 does not show that the lead is gone."""
    by_key: dict[str, list[str]] = {}
    for api_key, lead_id in ledger.deleted(CHECKED_AFTER_DELETE):
        by_key.setdefault(api_key, []).append(lead_id)
    for api_key, lead_ids in by_key.items():
        client = LeadsClient(base_url, api_key, ledger, timeout=timeout, waits=waits, block_on_failure=False,
                             stops_on_interrupt=False)
        try:
            for lead_id in lead_ids:
                try:
                    status = client.request("GET", f"/leads/{lead_id}").status_code
                except GarbageResponse:
                    continue
                record.checked += 1
                if status == 200:
                    record.still_readable.append(lead_id)
        finally:
            client.close()


def write_left(record: CleanupRecord, folder: Path) -> Path | None:
    """The ids that stayed on the server, one a line, for whoever cleans up by hand."""
    if not record.left:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LEFT_FILE
    path.write_text("".join(f"{item['id']}\t{item['answer']}\n" for item in record.left), encoding="utf-8")
    return path
