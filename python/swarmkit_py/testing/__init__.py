"""Helpers to run real swarmkit-py processes on loopback (demo, tests, benchmarks)."""
