"""qstar: Q* (arXiv 2406.14283) as a command-line experiment runner.

A frozen policy LLM writes solutions step by step; a learned Q-value model scores candidate steps;
A* search uses it to steer decoding. Every stage is a subcommand that reads and writes JSONL run
directories (see `qstar_cli.artifacts`).
"""

__version__ = "0.1.0"
