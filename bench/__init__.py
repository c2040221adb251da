"""Benchmarks: load `flasky dataset`, serve it as hypercorn.toml says, drive it with wrk."""
