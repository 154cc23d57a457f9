"""MGSM (Shi et al. 2022): 250 GSM8K test problems translated into ten languages; split test.

Option `subset` picks the language code (default "en"; Marco-o1 reports en and zh). Local:
`<data_dir>/mgsm/mgsm_<lang>.tsv`, any language whose file is present and that qstar can prompt
and grade in (`qstar_cli.grading.numeric.LANGUAGES`). Hub: the same TSV file from `juletxara/mgsm`
(that repository is a loading script, which current `datasets` no longer runs, so its raw TSVs are
read directly), for MGSM's eleven languages. Each line is `question<TAB>answer` with no header;
questions may hold quotes, so lines are split on the tab rather than parsed as CSV. The answer
column is written the English way in every language ("2,125" in mgsm_de.tsv too), so references
are read as English. Ids look like "mgsm_zh/test/17" so that languages never share an id.

Everything else is in the question's language, as in MGSM's own evaluation (and Marco-o1's): the
prompt's instruction and the answer line it asks for ("答案是 N。"), the `--num-shots` exemplars
(MGSM's eight, in every language, English included: data/mgsm_exemplars.json, under its own
licence: data/README.md), and grading, which reads
numbers by the language's conventions ("1.234" is 1234 in German) and the answer phrases of every
language. The language comes from each problem's meta["language"], else from the dataset as
configured by its subset.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import Dataset, Problem, hub_file, numeric_reference
from qstar_cli.errors import QstarError
from qstar_cli.grading.numeric import LANGUAGES as READABLE

LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")


class MGSM(Dataset):
    name = "mgsm"
    splits = ("test",)
    hub = "juletxara/mgsm"
    options = ("subset",)
    language = "en"  # the configured subset's (Dataset.language); a problem's meta["language"] wins

    def configured(self, subset: str = "en", **options: Any) -> MGSM:
        _check_subset(subset)
        dataset = copy.copy(self)
        dataset.language = subset
        return dataset

    def load(self, split: str, data_dir: Path | None = None, subset: str = "en", **options: Any) -> list[Problem]:
        _check_subset(subset)
        filename = f"mgsm_{subset}.tsv"
        if data_dir is None:
            if subset not in LANGUAGES:
                raise QstarError(
                    f"mgsm subset {subset!r} is not on the hub, which has {', '.join(LANGUAGES)}; "
                    f"pass --data-dir with a mgsm/{filename}"
                )
            path = hub_file(self.hub, filename)
        else:
            path = Path(data_dir) / "mgsm" / filename
            if not path.is_file():
                present = sorted(p.stem.removeprefix("mgsm_") for p in path.parent.glob("mgsm_*.tsv"))
                raise QstarError(
                    f"mgsm subset {subset!r} not found: no file {path} (languages present: "
                    f"{', '.join(present) or 'none'}); pick another subset or add the file"
                )
        return [
            Problem(
                id=f"mgsm_{subset}/{split}/{index}",
                question=question,
                reference=numeric_reference(answer, where),
                meta={"language": subset},
            )
            for index, (where, question, answer) in enumerate(read_tsv(path))
        ]

    def exemplars_in(self, language: str | None) -> tuple[tuple[str, str], ...]:
        return mgsm_exemplars(language or "en")


@cache
def all_exemplars() -> dict[str, tuple[tuple[str, str], ...]]:
    """language -> MGSM's eight (question, worked solution) pairs, in MGSM's order (package data)."""
    text = resources.files("qstar_cli.datasets").joinpath("data/mgsm_exemplars.json").read_text("utf-8")
    return {
        lang: tuple((shot["question"], shot["solution"]) for shot in shots) for lang, shots in json.loads(text).items()
    }


def mgsm_exemplars(language: str) -> tuple[tuple[str, str], ...]:
    """MGSM's eight worked exemplars in `language`; a language without them is an error, never
    English exemplars in their place."""
    shipped = all_exemplars()
    if language not in shipped:
        raise QstarError(
            f"no MGSM worked exemplars in language {language!r} (qstar ships them for "
            f"{', '.join(sorted(shipped))}); run it with --num-shots 0"
        )
    return shipped[language]


def _check_subset(subset: str) -> None:
    if subset not in READABLE:
        raise QstarError(
            f"unknown mgsm subset {subset!r}; choose one of {', '.join(LANGUAGES)} (a local "
            f"mgsm_<lang>.tsv may also be in {', '.join(sorted(set(READABLE) - set(LANGUAGES)))})"
        )


def read_tsv(path: Path) -> list[tuple[str, str, str]]:
    """(file:line, question, answer) for each non-blank line of an MGSM TSV file."""
    rows = []
    try:
        # split("\n"), not splitlines(): the latter also breaks at U+2028 and friends inside a question.
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise QstarError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        # The answer is the last field, so a stray tab inside a question stays in the question.
        question, tab, answer = line.rpartition("\t")
        if not tab or not question.strip() or not answer.strip():
            raise QstarError(f"{where}: expected 'question<TAB>answer', got {line[:60]!r}")
        rows.append((where, question.strip(), answer.strip()))
    return rows
