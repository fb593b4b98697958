"""Running records: the replayer, the executor, the sandbox for untrusted code, per-record
Python environments, provenance, the result cache, and the run ids and signal handling that
replays and agent runs share."""
