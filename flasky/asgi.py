"""What hypercorn serves: `hypercorn --config hypercorn.toml flasky.asgi:app`."""

import gc
import multiprocessing
import signal

from flasky import create_app

app = create_app()

# The objects of the loaded app (modules, templates, routes, the ORM's models) live as
# long as the process: kept out of the collector's full passes, which otherwise walk
# them all, and full passes made rarer — with many open live streams (each a few
# hundred long-lived objects) a full pass stops the loop for a long time.
gc.freeze()
gc.set_threshold(700, 10, 100)

if multiprocessing.parent_process() is not None:
    # A hypercorn worker (one of `workers` > 0). Its master stops it through a shared
    # shutdown event, and then, as soon as the first worker has drained, SIGTERMs the
    # others (hypercorn 0.18), which would cut their in-flight requests. The event is
    # what stops a worker; the master waits for it on exit.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
