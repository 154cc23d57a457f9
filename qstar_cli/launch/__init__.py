"""Launchers that run a stage across machines: Slurm arrays (slurm.py)."""
