"""Benchmarks: load the shared data set, serve it as hypercorn.toml says, drive it with wrk."""
