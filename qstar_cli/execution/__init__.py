"""Sandboxed execution of model-written code: one program (`sandbox.run_program`), or many in
parallel (`pool.Executor`). Nothing here runs unless a stage was given `--allow-code-execution`.

    executor = Executor(Limits(wall_seconds=10), workers=4)
    results = executor.run_many([program_a, program_b])   # Result.status, .passed, .detail
"""

from qstar_cli.execution.pool import Executor, default_workers
from qstar_cli.execution.sandbox import ISOLATIONS, STATUSES, Limits, Result, choose_isolation, run_program

__all__ = [
    "ISOLATIONS",
    "STATUSES",
    "Executor",
    "Limits",
    "Result",
    "choose_isolation",
    "default_workers",
    "run_program",
]
