"""The state file (atomic saves, proven with SIGKILL) and the background saver."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mock_server.persistence import StateFile, StateFileError, StateSaver, encode_cooperatively

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Shared by this module and the child processes: the state written as number `seq`. Its 8 MB are
# mostly long strings, cheap to build, so a writer spends much of its time writing and syncing.
STATE_SOURCE = '''
def big_state(seq):
    leads = [{"id": f"{seq}-{i}", "name": "Lead n\\u00ba %d" % i, "budget": seq * 1000 + i} for i in range(200)]
    return {"seq": seq, "leads": leads, "pages": ["%08d" % seq * 262144] * 4}
'''
LOOPING_CHILD = STATE_SOURCE + '''
import sys, time
from mock_server.persistence import StateFile

state_file = StateFile(sys.argv[1])
first = int(sys.argv[2])
deadline = time.monotonic() + 30
for seq in range(first, first + 1000):
    if time.monotonic() > deadline:
        break
    state_file.save(big_state(seq))
    print(seq, flush=True)
'''
# Saves one state but stops for good inside os.<stage>: at "fsync" the new state is written to the
# temporary file but not yet renamed; at "replace" it has just been renamed into place.
STOPPING_CHILD = STATE_SOURCE + '''
import os, sys, time
from mock_server.persistence import StateFile

stage = sys.argv[3]
real = getattr(os, stage)

def stop_here(*args):
    if stage == "replace":
        real(*args)
    print("stopped", flush=True)
    time.sleep(60)

setattr(os, stage, stop_here)
StateFile(sys.argv[1]).save(big_state(int(sys.argv[2])))
'''
namespace: dict[str, Any] = {}
exec(STATE_SOURCE, namespace)
big_state = namespace["big_state"]


def temp_files(directory: Path) -> list[Path]:
    return [path for path in directory.iterdir() if path.name.endswith(".tmp")]


def test_load_without_a_file_returns_none(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "state.json").load() is None


def test_saved_state_loads_back_equal(tmp_path: Path) -> None:
    state = {"leads": [{"name": "Zoë Ångström \ud800", "budget": 380000.5, "notes": None}], "revision": 3}
    state_file = StateFile(tmp_path / "state.json")
    state_file.save(state)
    assert state_file.load() == state


def test_save_replaces_the_previous_state_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.save({"seq": 1})
    state_file.save({"seq": 2})
    assert state_file.load() == {"seq": 2}
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize("content", [b'{"seq": 1', b"", b"[1, 2]", b"\xff\xfe garbage", b"null"])
def test_corrupt_file_raises_an_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match="state.json"):
        StateFile(path).load()


def test_a_failed_write_keeps_the_previous_state_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.save({"seq": 1})

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        state_file.save({"seq": 2})
    monkeypatch.undo()
    assert state_file.load() == {"seq": 1}
    assert temp_files(tmp_path) == []


def test_an_unserialisable_state_is_refused_before_touching_the_file(tmp_path: Path) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.save({"seq": 1})
    with pytest.raises(TypeError):
        state_file.save({"seq": object()})
    assert state_file.load() == {"seq": 1}


def test_load_removes_temporary_files_left_by_a_killed_writer(tmp_path: Path) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.save({"seq": 1})
    (tmp_path / ".state.json.abc123.tmp").write_bytes(b'{"seq": 2')
    (tmp_path / "other.tmp").write_bytes(b"not ours")
    assert state_file.load() == {"seq": 1}
    assert [path.name for path in temp_files(tmp_path)] == ["other.tmp"]


def child_environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.parametrize(("stage", "expected_seq"), [("fsync", 1), ("replace", 2)])
def test_sigkill_inside_a_save_leaves_the_old_or_the_new_state(tmp_path: Path, stage: str, expected_seq: int) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.save(big_state(1))
    child = subprocess.Popen(
        [sys.executable, "-c", STOPPING_CHILD, str(state_file.path), "2", stage],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_environment(), text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "stopped", child.stderr.read() if child.stderr else ""
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert state_file.load() == big_state(expected_seq)
    assert temp_files(tmp_path) == []


def test_sigkill_at_any_moment_leaves_a_whole_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state_file = StateFile(path)
    state_file.save(big_state(0))
    env = child_environment()
    moments = random.Random(20260701)
    for round_number in range(1, 21):
        first = round_number * 100_000
        child = subprocess.Popen(
            [sys.executable, "-c", LOOPING_CHILD, str(path), str(first)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        )
        try:
            # Wait for one finished save, so every round kills a writer that has replaced the file.
            assert child.stdout is not None
            first_line = child.stdout.readline()
            assert first_line.strip() == str(first), child.stderr.read() if child.stderr else ""
            time.sleep(moments.uniform(0, 0.3))  # the random kill moment; nothing asserts on timing
            child.send_signal(signal.SIGKILL)
            rest, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL
        last_reported = max(int(line) for line in [first_line, *rest.split()])
        state = state_file.load()
        assert state is not None
        # Saved and reported, or saved just before the kill and not yet reported.
        assert state["seq"] in (last_reported, last_reported + 1)
        assert state == big_state(state["seq"])
    assert temp_files(tmp_path) == []


LEAD = {"id": "f2b8d4a6", "name": "Zoë \udfff", "budget": 380000.5, "notes": None, "hot": True, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"format": 1, "users": {}},
        {"users": {"u1": {"leads": [LEAD] * 1203, "contacts": [], "clients": [{"id": "c"}] * 70}, "u2": {"leads": []}}},
        {"leads": {f"id-{n}": dict(LEAD, n=n) for n in range(1100)}, "clock": 17},
        {"matrix": [[n] * 3 for n in range(700)], "mixed": [LEAD, [LEAD] * 80, {"x": [1] * 90}, 5, "s", None]},
        {"by_number": {n: "v" for n in range(100)}, "nested": [{"deep": [[[]]]}] * 65},
    ],
)
def test_cooperative_encoding_gives_the_bytes_of_a_one_shot_encoding(state: dict[str, Any]) -> None:
    assert asyncio.run(encode_cooperatively(state)) == StateFile.encode(state)


def test_cooperative_encoding_lets_other_tasks_run_between_slices() -> None:
    state = {"users": {"u1": {"leads": [LEAD] * 5000}}}

    async def scenario() -> int:
        ticks = 0
        encoding = asyncio.create_task(encode_cooperatively(state))
        while not encoding.done():
            ticks += 1
            await asyncio.sleep(0)
        await encoding
        return ticks

    assert asyncio.run(scenario()) >= 5


class FakeStore:
    def __init__(self) -> None:
        self.revision = 0
        self.leads: list[str] = []
        self.dumps = 0

    def add(self, name: str) -> None:
        self.leads.append(name)
        self.revision += 1

    def dump(self) -> dict[str, Any]:
        self.dumps += 1
        return {"leads": list(self.leads)}


class CountingStateFile(StateFile):
    def __init__(self, path: Path, failures: int = 0) -> None:
        super().__init__(path)
        self.writes = 0
        self.failures = failures

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.failures:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        super().write(data)


async def wait_until(condition: Any, ticks: int = 2000) -> None:
    for _ in range(ticks):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met")


def test_saver_writes_nothing_while_the_store_does_not_change(tmp_path: Path) -> None:
    store, state_file = FakeStore(), CountingStateFile(tmp_path / "state.json")

    async def scenario() -> None:
        saver = StateSaver(state_file, store, interval=0.01)
        saver.start()
        await asyncio.sleep(0.1)  # many ticks of the saver
        await saver.stop()

    asyncio.run(scenario())
    assert (state_file.writes, store.dumps) == (0, 0)
    assert state_file.load() is None


def test_saver_saves_after_a_change_and_not_again_until_the_next(tmp_path: Path) -> None:
    store, state_file = FakeStore(), CountingStateFile(tmp_path / "state.json")

    async def scenario() -> None:
        saver = StateSaver(state_file, store, interval=0.01)
        saver.start()
        store.add("Rachel Kim")
        store.add("Jordan Lee")
        await wait_until(lambda: saver.saved_revision == 2)
        await asyncio.sleep(0.1)
        assert state_file.writes == 1
        store.add("Sam Ortiz")
        await wait_until(lambda: saver.saved_revision == 3)
        await saver.stop()

    asyncio.run(scenario())
    assert state_file.writes == 2
    assert state_file.load() == {"leads": ["Rachel Kim", "Jordan Lee", "Sam Ortiz"]}


def test_a_change_made_while_saving_is_saved_on_the_next_tick(tmp_path: Path) -> None:
    store, state_file = FakeStore(), CountingStateFile(tmp_path / "state.json")
    real_dump = store.dump

    def dump_then_change() -> dict[str, Any]:
        snapshot = real_dump()
        if store.revision == 1:
            asyncio.get_running_loop().call_soon(store.add, "Jordan Lee")  # lands while encoding/writing
        return snapshot

    store.dump = dump_then_change  # type: ignore[method-assign]

    async def scenario() -> None:
        saver = StateSaver(state_file, store, interval=0.01)
        saver.start()
        store.add("Rachel Kim")
        await wait_until(lambda: saver.saved_revision == 2)
        await saver.stop()

    asyncio.run(scenario())
    assert state_file.writes == 2
    assert state_file.load() == {"leads": ["Rachel Kim", "Jordan Lee"]}


def test_stop_saves_the_last_change(tmp_path: Path) -> None:
    store, state_file = FakeStore(), CountingStateFile(tmp_path / "state.json")

    async def scenario() -> None:
        saver = StateSaver(state_file, store, interval=3600)
        saver.start()
        await asyncio.sleep(0)
        store.add("Rachel Kim")
        await saver.stop()

    asyncio.run(scenario())
    assert state_file.load() == {"leads": ["Rachel Kim"]}


def test_stop_without_start_still_saves_a_change(tmp_path: Path) -> None:
    store, state_file = FakeStore(), CountingStateFile(tmp_path / "state.json")

    async def scenario() -> None:
        saver = StateSaver(state_file, store)
        store.add("Rachel Kim")
        await saver.stop()

    asyncio.run(scenario())
    assert state_file.load() == {"leads": ["Rachel Kim"]}


def test_saver_keeps_going_after_a_failed_save(tmp_path: Path) -> None:
    store, state_file = FakeStore(), CountingStateFile(tmp_path / "state.json", failures=1)

    async def scenario() -> None:
        saver = StateSaver(state_file, store, interval=0.01)
        saver.start()
        store.add("Rachel Kim")
        await wait_until(lambda: saver.saved_revision == 1)
        await saver.stop()

    asyncio.run(scenario())
    assert state_file.writes == 2
    assert state_file.load() == {"leads": ["Rachel Kim"]}


def test_a_failing_final_save_is_reported_by_stop(tmp_path: Path) -> None:
    store, state_file = FakeStore(), CountingStateFile(tmp_path / "state.json", failures=1)

    async def scenario() -> None:
        saver = StateSaver(state_file, store, interval=3600)
        saver.start()
        store.add("Rachel Kim")
        await saver.stop()

    with pytest.raises(OSError):
        asyncio.run(scenario())


def test_saver_refuses_a_non_positive_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        StateSaver(StateFile(tmp_path / "state.json"), FakeStore(), interval=0)
