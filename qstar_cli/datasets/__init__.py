"""Reasoning benchmarks as lists of `Problem`s, with one prompt and one grader per answer type.

Data comes from a local directory (`--data-dir` or `QSTAR_DATA_DIR`, laid out as below) or, when
neither is set, from the Hugging Face hub through `datasets` (imported only then). Ids are
"<dataset>/<split>/<row position in the source file>"; each hub source below is the very file of
the local layout (or its upstream original), so local and hub runs share ids.

| name    | splits      | rows       | local file(s) in the data dir | hub source (file)                                | answer  |
|---------|-------------|------------|-------------------------------|--------------------------------------------------|---------|
| gsm8k   | train, test | 7473, 1319 | gsm8k/{train,test}.jsonl      | openai/gsm8k, config main                        | numeric |
| math    | train, test | 4500, 5000 | math/test.jsonl (+ math500/)  | HuggingFaceTB/math_tasks (data/math/test.jsonl)  | math    |
| math500 | test        | 500        | math500/test.jsonl            | HuggingFaceH4/MATH-500                           | math    |
| mgsm    | test        | 250 each   | mgsm/mgsm_<lang>.tsv          | juletxara/mgsm (mgsm_<lang>.tsv)                 | numeric |
| svamp   | test        | 1000       | svamp/test.jsonl              | HuggingFaceTB/math_tasks (data/svamp/test.jsonl) | numeric |
| mawps   | test        | 2065       | mawps/test.jsonl              | HuggingFaceTB/math_tasks (data/mawps/test.jsonl) | numeric |
| mbpp    | test, train, validation, prompt | 500, 374, 90, 10 | mbpp/mbpp.jsonl | google-research-datasets/mbpp, config full | code |
| jsonl   | any name    | yours      | option path=FILE, anywhere    | -                                                | either  |

MBPP ids are "mbpp/<split>/<task_id>" and its splits are task_id ranges (see datasets/mbpp.py);
grading it runs code, so it needs a sandbox executor (`with_executor`, attached by the stages only
with --allow-code-execution). `math` train is MATH test minus MATH-500 (the PRM800K training pool);
mgsm takes the option `subset` (a language code, default en); jsonl takes path, question_field,
answer_field, answer_type and id_field. Typical use:

    problems = load_problems("gsm8k", "test", resolve_data_dir(flag))
    dataset = get_dataset("gsm8k")
    messages = dataset.messages(problems[0], num_shots=4)
    reward = 1.0 if dataset.is_correct(completion, problems[0]) else 0.0
"""  # noqa: E501 - the table's rows are wider than a line and a markdown row cannot wrap

from qstar_cli.datasets.base import Dataset, Problem
from qstar_cli.datasets.registry import DATA_DIR_ENV, DATASETS, get_dataset, load_problems, resolve_data_dir

__all__ = ["DATASETS", "DATA_DIR_ENV", "Dataset", "Problem", "get_dataset", "load_problems", "resolve_data_dir"]
