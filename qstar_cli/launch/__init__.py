"""How stages run: several in order in one process (pipeline.py, `qstar run`), again and checked
(repro.py), and across machines: what shards share (shards.py), Ray tasks (ray.py), Slurm arrays
and their merge job (slurm.py)."""
