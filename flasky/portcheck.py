"""`python -m flasky.portcheck PORT`: say clearly when `make run` cannot have its port.

hypercorn meets a busy port with an `OSError` traceback and nothing about how to choose
another; `make run` asks here first and stops with one line that does."""

from __future__ import annotations

import errno
import socket
import sys


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be bound now, as a sentence for a person; None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"Port {port} on {host} is already in use (another server?). "
                    f"Stop it, or choose another port: make run PORT={port + 1}"
                )
            return f"Cannot listen on {host}:{port}: {exc.strerror or exc}."
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        port = int(args[0])
        if not 0 < port < 65536:
            raise ValueError
    except (IndexError, ValueError):
        print(f"Error: PORT must be a number from 1 to 65535, not {' '.join(args)!r}.")
        return 2
    problem = port_problem("127.0.0.1", port)
    if problem:
        print(f"Error: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
