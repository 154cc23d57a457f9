"""`python -m qstar_cli ...`: the qstar command without the console script (e.g. from a source tree)."""

from qstar_cli.cli import main

main()
