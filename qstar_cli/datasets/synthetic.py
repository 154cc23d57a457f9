"""SYNTHETIC multi-step arithmetic word problems, generated from a fixed seed (no download).

Why it exists: on the real easy sets (MAWPS, SVAMP) the embedded 135M-parameter policy is right
only a few percent of the time, too rarely for a learned Q-value model to tell good steps from bad
and for any search method to separate from greedy decoding. This generator makes problems of the
same shape ("Sam has 7 marbles. He finds 4 more. He gives 2 away. How many ...?") whose difficulty
is set by the number of operations, so the search machinery can be compared where the policy is
right a fair share of the time. Results on it are labelled synthetic wherever they appear (the
dataset name says so); they say nothing about real benchmarks.

Splits `train` (2000 problems) and `test` (500) come from disjoint seeds. Option `subset` picks the
difficulty: "1" to "4" operations (gains, losses, doubling/tripling; start 2-20, operands up to 15),
or "easy": two gains with start and operands 1-5 (measured on the embedded SmolLM2-135M, 4-shot,
T=0.7: see the README's Results). Every problem is a pure function of (split, subset, index), so ids
are stable across machines and Python versions.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from qstar_cli.datasets import prompts
from qstar_cli.datasets.base import Dataset, Problem
from qstar_cli.errors import QstarError

SIZES = {"train": 2000, "test": 500}
SHOTS = 8  # few-shot exemplars come from a third seed ("shots"), never from train or test
# subset -> (operations, start range, operand range, operation kinds with weights)
LEVELS = {
    "easy": (2, (1, 5), (1, 5), {"gain": 1}),
    **{str(n): (n, (2, 20), (1, 15), {"gain": 4, "loss": 4, "times": 1}) for n in range(1, 5)},
}
SUBSETS = tuple(LEVELS)
NAMES = ("Sam", "Mia", "Leo", "Ava", "Noah", "Emma", "Liam", "Zoe", "Omar", "Lily", "Ben", "Nora")
OBJECTS = ("apples", "marbles", "stickers", "pencils", "cookies", "books", "stamps", "shells", "cards", "coins")
GAIN = ("{name} finds {n} more {obj}.", "{name} buys {n} more {obj}.", "A friend gives {name} {n} {obj}.")
LOSS = ("{name} gives {n} {obj} to a friend.", "{name} loses {n} {obj}.", "{name} sells {n} {obj}.")
TIMES = ("Then {name} doubles the number of {obj}.", "Then the number of {obj} {name} has triples.")
FACTORS = {"doubles": 2, "triples": 3}


def generate(split: str, subset: str, index: int) -> Problem:
    """One problem: a start amount, then `subset` operations (gain, loss or a small multiple)."""
    rng = random.Random(f"qstar-synthetic-arith/{split}/{subset}/{index}")
    operations, start, operand, kinds = LEVELS[subset]
    name, obj = rng.choice(NAMES), rng.choice(OBJECTS)
    amount = rng.randint(*start)
    sentences = [f"{name} has {amount} {obj}."]
    steps = [f"{name} starts with {amount} {obj}."]
    for _ in range(operations):
        kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
        if kind == "loss" and amount < 2:
            kind = "gain"
        if kind == "times" and amount > 30:
            kind = "loss"
        if kind == "gain":
            n = rng.randint(*operand)
            sentences.append(rng.choice(GAIN).format(name=name, n=n, obj=obj))
            steps.append(f"After getting {n} more, {name} has {amount} + {n} = {amount + n} {obj}.")
            amount += n
        elif kind == "loss":
            n = rng.randint(1, amount - 1)
            sentences.append(rng.choice(LOSS).format(name=name, n=n, obj=obj))
            steps.append(f"After losing {n}, {name} has {amount} - {n} = {amount - n} {obj}.")
            amount -= n
        else:
            template = rng.choice(TIMES)
            factor = next(f for word, f in FACTORS.items() if word in template)
            sentences.append(template.format(name=name, obj=obj))
            steps.append(f"Multiplying by {factor}, {name} has {amount} * {factor} = {amount * factor} {obj}.")
            amount *= factor
    sentences.append(f"How many {obj} does {name} have now?")
    steps.append(f"The answer is {amount}.")
    return Problem(
        id=f"synthetic-arith{'' if subset == '2' else '-' + subset}/{split}/{index}",
        question=" ".join(sentences),
        reference=str(amount),
        solution="\n".join(steps),
        meta={"synthetic": True, "operations": operations, "level": subset},
    )


class SyntheticArithmetic(Dataset):
    name = "synthetic-arith"
    splits = tuple(SIZES)
    hub = ""  # generated locally: needs neither the hub nor a data dir
    options = ("subset",)

    def messages(self, problem: Problem, num_shots: int = 0) -> list[dict]:
        """The shared numeric instruction, with worked exemplars of the problem's own level.

        The shipped exemplars are general word problems; these are generated problems in the very
        template of the question (worked solutions one operation per line), which is what lets a
        135M-parameter policy follow the format at all.
        """
        level = problem.meta.get("level", "2")
        shots = tuple((p.question, p.solution) for p in (generate("shots", level, i) for i in range(SHOTS)))
        return prompts.build_messages(problem.question, self.answer_type, num_shots, exemplars=shots)

    def load(self, split: str, data_dir: Path | None = None, subset: str = "2", **options: Any) -> list[Problem]:
        if subset not in SUBSETS:
            raise QstarError(
                f"unknown synthetic-arith subset {subset!r}: it is the difficulty (the number of "
                f"operations, or easy), one of {', '.join(SUBSETS)}"
            )
        return [generate(split, subset, index) for index in range(SIZES[split])]
