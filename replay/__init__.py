"""Replay: the records store, tasks, executors, log parsing, statistics and the CLI."""
