"""What hypercorn serves: `hypercorn --config hypercorn.toml flasky.asgi:app`."""

import multiprocessing
import signal

from flasky import create_app

app = create_app()

if multiprocessing.parent_process() is not None:
    # A hypercorn worker (one of `workers` > 0). Its master stops it through a shared
    # shutdown event, and then, as soon as the first worker has drained, SIGTERMs the
    # others (hypercorn 0.18), which would cut their in-flight requests. The event is
    # what stops a worker; the master waits for it on exit.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
