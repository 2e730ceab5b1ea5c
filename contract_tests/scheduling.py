"""Parallel workers, with the checks that compare several reads of a key's whole list kept apart.

Rules such as "stats count every lead" or "pages follow each other without overlap" read the
caller's whole list more than once: a lead created meanwhile by a parallel check would change
the second read. With a second key they read and write as that tenant, which no other check
writes with: they go first, all to one worker, which runs them one after another beside the
others. With one key they run last on one worker, when nothing else writes. Either way the
verdicts are those of a run without workers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScheduling

from contract_tests import quiet

LIST_MODULES = ("contract_tests/test_rules_list.py",)
# Schemathesis's tests, one per operation, each takes as long as dozens of rule checks: they go first,
# one to a worker, so that no worker gets several of them.
LONG_MODULES = ("contract_tests/test_conformance.py", "contract_tests/test_stateful.py")


def is_list_check(nodeid: str) -> bool:
    return nodeid.startswith(LIST_MODULES) or "/" + nodeid.split("::")[0] in {"/" + m for m in LIST_MODULES}


class ListChecksScheduling(LoadScheduling):  # type: ignore[misc]
    """`--dist load`, except for the list checks: all on one worker from the start when they have a tenant
    of their own (`quiet_marker` given: created once the other workers are done), else after every other check."""

    def __init__(self, config: Any, log: Any = None, *, quiet_marker: Path | None = None) -> None:
        super().__init__(config, log)
        self.quiet_marker = quiet_marker
        self.list_node: Any = None  # the worker running the list checks beside the others
        self.serial: list[int] = []  # the list checks still to run last
        self.serial_node: Any = None

    @property
    def tests_finished(self) -> bool:
        return not self.serial and super().tests_finished

    @property
    def has_pending(self) -> bool:
        return bool(self.serial) or super().has_pending

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        indices = range(len(self.collection))
        lists = [index for index in indices if is_list_check(self.collection[index])]
        others = [index for index in indices if not is_list_check(self.collection[index])]
        self.pending[:] = sorted(others, key=lambda index: not self.collection[index].startswith(LONG_MODULES))
        if self.maxschedchunk is None:
            self.maxschedchunk = len(self.collection)
        dealt = self.nodes
        if self.quiet_marker is None or not lists:
            self.serial = lists
        else:
            self.list_node = self.nodes[-1]
            self.node2pending[self.list_node].extend(lists)
            self.list_node.send_runtest_some(lists)
            dealt = self.nodes[:-1] or self.nodes
        for _ in range(2):  # a worker runs a test once it holds the next one: two each, dealt round
            for node in dealt:
                if self.pending:
                    self._send_tests(node, 1)
        for node in self.nodes:
            if not self.pending:
                self.check_schedule(node)
        self._announce_quiet()

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        if node.shutting_down:
            return
        if self.pending:
            super().check_schedule(node, duration)
            return
        if not self.serial:
            node.shutdown()
            return
        # One worker keeps its last check queued (a worker runs a check once it knows the next one
        # or is told to stop); the others stop. When they are gone, it gets the serial checks.
        if self.serial_node is None or self.serial_node not in self.node2pending:
            self.serial_node = node
        if node is not self.serial_node:
            node.shutdown()
        self._release_serial()

    def remove_node(self, node: Any) -> Any:
        crashed = super().remove_node(node)
        if node is self.serial_node:
            self.serial_node = None
            for other in self.nodes:
                self.check_schedule(other)
        self._release_serial()
        self._announce_quiet()
        return crashed

    def _release_serial(self) -> None:
        node = self.serial_node
        if not self.serial or node is None or any(other is not node for other in self.node2pending):
            return
        serial, self.serial = self.serial, []
        self.node2pending[node].extend(serial)
        node.send_runtest_some(serial)
        node.shutdown()

    def _announce_quiet(self) -> None:
        """Once every other worker has finished (its cleanup included), nothing but the list checks writes."""
        if self.quiet_marker is None or self.list_node is None or self.quiet_marker.exists():
            return
        if all(node is self.list_node for node in self.node2pending):
            quiet.announce(self.quiet_marker)
