"""Inference machinery shared by every model: annealing poutines, schedules, the SVI trainer, checkpoints."""
