"""What pytest-xdist starts as a worker's Python: it has the run's fork server start the worker.

    python -I -S forkclient.py SOCKET PYTHON ARGS...

It hands the fork server (`contract_tests.forkserver`) its standard streams, working directory,
environment and `ARGS` (the worker's bootstrap), waits for the forked worker to end and exits with
its status. Without a fork server to talk to it becomes `PYTHON ARGS`, the worker started afresh.
Standard library only: it runs isolated, without site-packages.
"""
import json
import os
import signal
import socket
import struct
import sys

FORKED = b"F"  # the fork server's answer once the worker runs; anything else: start it afresh


def main() -> None:
    # A Ctrl-C reaches the worker itself (one process group); this stand-in waits for the worker's end.
    sigint_ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path, python, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
        request = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ),
                              "sigint_ignored": sigint_ignored}).encode()
        socket.send_fds(connection, [struct.pack("!I", len(request))], [0, 1, 2])
        connection.sendall(request)
        forked = connection.recv(1) == FORKED
    except OSError:
        forked = False
    if not forked:
        connection.close()
        signal.signal(signal.SIGINT, signal.SIG_IGN if sigint_ignored else signal.SIG_DFL)
        os.execv(python, [python, *args])
    status = b""
    while len(status) < 4:
        chunk = connection.recv(4 - len(status))
        if not chunk:
            os._exit(1)  # the fork server went away without the worker's status
        status += chunk
    os._exit(struct.unpack("!i", status)[0])


if __name__ == "__main__":
    main()
