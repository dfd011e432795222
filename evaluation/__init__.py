"""Evaluation harness (issue 4): the papers' metrics (metrics.py) and judges (judges/)."""
