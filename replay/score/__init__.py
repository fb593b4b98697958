"""Scoring: the deterministic log parser, grading of one run, statistics, and replay reports.

Nothing here runs code: every score can be recomputed from the logs a run kept.
"""
