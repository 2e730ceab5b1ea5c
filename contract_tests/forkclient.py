"""What pytest-xdist starts as a worker's Python: it has the run's fork server start the worker.

    python -I -S forkclient.py SOCKET PYTHON ARGS...

It hands the fork server (`contract_tests.forkserver`) its standard streams, working directory,
environment and `ARGS` (the worker's bootstrap), then stands in for the forked worker: the signals
it gets (SIGINT, SIGTERM, ...) are passed on to the worker, and it ends as the worker ended, with
its exit status or by its signal. Without a fork server to talk to it becomes `PYTHON ARGS`, the
worker started afresh. Standard library only: it runs isolated, without site-packages.
"""
import json
import os
import select
import signal
import socket
import struct
import sys

FORKED = b"F"  # the fork server's answer once the worker runs (then its pid); anything else: start it afresh
PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def main() -> None:
    sigint_ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    # Until the worker runs, a signal waits (blocked): it is passed on once there is a worker to take it.
    signal.pthread_sigmask(signal.SIG_BLOCK, PASSED_ON)
    path, python, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        request = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ),
                              "sigint_ignored": sigint_ignored}).encode()
        socket.send_fds(connection, [struct.pack("!I", len(request))], [0, 1, 2])
        connection.sendall(request)
        forked = connection.recv(1) == FORKED
        worker = struct.unpack("!i", read_exactly(connection, 4))[0] if forked else 0
    except OSError:
        forked = False
    if not forked:
        connection.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)  # a signal that came meanwhile is this process's
        os.execv(python, [python, *args])
    # A signal landing just before the wait below blocks would have its handler run only when the worker
    # ends; with a wakeup socket, its arrival wakes the wait, so the handler passes it on at once.
    woken, wakeup = socket.socketpair()
    wakeup.setblocking(False)
    signal.set_wakeup_fd(wakeup.fileno(), warn_on_full_buffer=False)
    for signum in PASSED_ON:
        # A worker that ignores SIGINT (started so) ignores it passed on too; a terminal's Ctrl-C reaches it itself.
        signal.signal(signum, lambda received, frame: os.kill(worker, received))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, PASSED_ON)
    try:
        status = struct.unpack("!i", read_exactly(connection, 4, woken=woken))[0]
    except OSError:
        os._exit(1)  # the fork server went away without the worker's status
    if status < 0:  # ended by a signal: end by it too
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status if status >= 0 else 128 - status)


def read_exactly(connection: socket.socket, size: int, peer: str = "fork server",
                 woken: socket.socket | None = None) -> bytes:
    """`size` bytes from `connection`; OSError when `peer` hangs up first.

    With `woken` (the read end of the signal wakeup socket), a signal wakes the wait, and its handler runs.
    """
    data = b""
    while len(data) < size:
        if woken is not None:
            ready = select.select([connection, woken], [], [])[0]
            if woken in ready:
                woken.recv(4096)  # drained: the signals' handlers run as soon as this returns
            if connection not in ready:
                continue
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise OSError(f"the {peer} hung up")
        data += chunk
    return data


if __name__ == "__main__":
    main()
