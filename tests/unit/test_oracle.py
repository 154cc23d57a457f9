"""The oracle heuristic (`--qvm oracle`) on toy trees whose continuations' correctness is scripted:
its values by hand, its noise against the AUC it predicts, its tokens counted apart from the
search's, and every output that says it read the reference answers."""

import math
from types import SimpleNamespace

import pytest

from qstar_cli import search
from qstar_cli.config import EvalConfig, resolve
from qstar_cli.errors import QstarError
from qstar_cli.search.base import Candidate, Question, SearchEnv
from qstar_cli.search.oracle import LABEL, OracleConfig, OracleEnv
from qstar_cli.value.metrics import within_question_auc

Q = Question("q", "toy", "P:")
TOKENS = 2  # each continuation's tokens


class Toy(SearchEnv):
    """`edges[state]` lists (step, ends the solution) the policy proposes there; `endings[state]`
    the continuations it writes from there (cycled to n; a state not listed continues with nothing,
    as a finished solution does). `values`: a QVM's answers, for the runs without the oracle."""

    def __init__(self, edges=None, endings=None, values=None):
        self.edges, self.endings, self.values = edges or {}, endings or {}, values
        self.completions = []  # (states, n) of each complete call

    def propose(self, requests, k, temperature, logprobs=False):
        return [
            [Candidate(s, 1, "eos" if ends else "stop") for s, ends in self.edges.get(tuple(steps), [])][:k]
            for _, steps in requests
        ]

    def complete(self, requests, n, temperature, logprobs=False):
        self.completions.append(([tuple(steps) for _, steps in requests], n))
        out = []
        for _, steps in requests:
            texts = self.endings.get(tuple(steps), [""])
            out.append([Candidate(texts[i % len(texts)], TOKENS, "eos") for i in range(n)])
        return out

    def q_values(self, requests):
        return self.values(requests)

    def split_steps(self, text, tokens):
        return [text]

    def extract_answer(self, question, text):
        return text.rpartition("=")[2] or None


def grade(question, text):
    """The reference answer of every toy question is 7."""
    return 1.0 if text.endswith("=7") else 0.0


def oracle(env, **settings):
    return OracleEnv(env, grade, OracleConfig(**settings), temperature=0.9)


# Root actions a, b, c; from each, M = 4 continuations whose correctness the test controls:
#   a: =7 =5 =5 =5  (one of four right)      b: =5 ×4 (none)      c: =7 =7 =5 =7 (three of four)
# and c's own next steps end the solution, right (=7) or wrong (=5).
EDGES = {
    (): [("a", False), ("b", False), ("c", False)],
    ("c",): [("=7", True), ("=5", True)],
    ("a",): [("=7", True)],
    ("b",): [("=5", True)],
}
ENDINGS = {("a",): ["=7", "=5", "=5", "=5"], ("b",): ["=5"], ("c",): ["=7", "=7", "=5", "=7"], (): ["x=5", "y=7"]}
ROOT = [(Q, [], "a"), (Q, [], "b"), (Q, [], "c")]


def test_noiseless_values_are_the_rollout_label_worked_by_hand():
    env = Toy(EDGES, ENDINGS)
    values, tokens = oracle(env, rollouts=4).q_values_counted(ROOT)
    assert values == [1.0, 0.0, 1.0]  # max: some continuation of a and of c is right, none of b
    assert tokens == [4 * TOKENS] * 3
    assert env.completions == [([("a",), ("b",), ("c",)], 4)]  # ONE policy call for all pairs, n = M
    soft = oracle(Toy(EDGES, ENDINGS), rollouts=4, target="soft").q_values(ROOT)
    assert soft == [0.25, 0.0, 0.75]  # the mean: 1, 0 and 3 right out of 4
    # M = 1: the first continuation only (a: =7, b: =5, c: =7)
    assert oracle(Toy(EDGES, ENDINGS), rollouts=1).q_values(ROOT) == [1.0, 0.0, 1.0]
    # a step that ends the solution continues with nothing: its value is its own grade
    assert oracle(Toy(EDGES, ENDINGS)).q_values([(Q, ["c"], "=7"), (Q, ["c"], "=5")]) == [1.0, 0.0]


def test_a_star_with_the_noiseless_oracle_follows_its_values():
    (result,) = search.run(
        "astar", [Q], oracle(Toy(EDGES, ENDINGS), target="soft"), search.SEARCHERS["astar"].config(n_terminals=1)
    )
    assert result.answer.steps == ["c", "=7"]  # c (0.75) before a (0.25) and b (0), then c's right ending
    assert [p.h for p in result.answer.path] == [0.75, 1.0]


def _values_like_the_oracle(**settings):
    """A QVM that answers exactly what the oracle would, at no token cost of its own."""
    return lambda requests: oracle(Toy(EDGES, ENDINGS), **settings).q_values(requests)


@pytest.mark.parametrize(
    "method,sets",
    [
        ("astar", {"n_terminals": 2}),
        ("beam", {"width": 1}),
        ("best_of_n", {"n": 2}),
        ("mcts", {"reward": "qvm", "iterations": 4}),
    ],
)
def test_every_search_that_takes_a_qvm_takes_the_oracle_and_counts_its_tokens_apart(method, sets):
    cfg = search.SEARCHERS[method].config(**sets)
    (with_oracle,) = search.run(method, [Q], oracle(Toy(EDGES, ENDINGS), rollouts=3, target="soft"), cfg)
    (with_qvm,) = search.run(method, [Q], Toy(EDGES, ENDINGS, _values_like_the_oracle(rollouts=3, target="soft")), cfg)
    assert with_oracle.answer.text == with_qvm.answer.text and with_oracle.answer.text.endswith("=7")
    # the search's own tokens are the same as with a QVM of the same values; the oracle's are apart
    assert with_oracle.usage.generated_tokens == with_qvm.usage.generated_tokens > 0
    assert with_qvm.usage.oracle_tokens == 0
    assert with_oracle.usage.scored > 0
    assert with_oracle.usage.oracle_tokens == 3 * TOKENS * with_oracle.usage.scored  # M continuations per pair


# ---- noise ---------------------------------------------------------------------------------
# One question with 20 right and 20 wrong actions. Each action's single continuation (M = 1) is
# scripted so that 15 right and 5 wrong actions continue to the right answer: the noiseless oracle
# ranks them with AUC₀ = (15·15 + ½(15·5 + 5·15)) / 400 = 0.75 (its values are 0 or 1).
RIGHT = [f"r{i}" for i in range(20)]
WRONG = [f"w{i}" for i in range(20)]
NOISY_ENDINGS = {(a,): ["=7" if i < 15 else "=5"] for i, a in enumerate(RIGHT)}
NOISY_ENDINGS |= {(a,): ["=7" if i < 5 else "=5"] for i, a in enumerate(WRONG)}
ACTIONS = [(Q, [], a) for a in RIGHT + WRONG]
SEEDS = 1000


def mean_auc(noise: float) -> float:
    """The within-question AUC of the noised values, averaged over SEEDS seeds of the noise."""
    total = 0.0
    for seed in range(SEEDS):
        values = oracle(Toy(endings=NOISY_ENDINGS), rollouts=1, noise=noise, seed=seed).q_values(ACTIONS)
        auc, _ = within_question_auc([(values[:20], values[20:])])
        total += auc
    return total / SEEDS


def predicted(auc0: float, noise: float) -> float:
    return 0.5 + (1 - noise**2) * (auc0 - 0.5)  # the module's formula for 0/1 values


# Tolerance: a seed's AUC is a function of the 40 actions' independent (coin, draw) pairs, and
# changing one right (wrong) action's value moves it by at most 1/20 (it is in 20 of the 400
# pairs). The mean over S seeds then moves by at most 1/(20 S) per variable, and McDiarmid's
# inequality gives P(|mean - E| >= t) <= 2 exp(-2 t² / Σc²) with Σc² = 40 S / (20 S)² = 0.1 / S:
# with failure probability 1e-6, t = sqrt(0.1 / S · ln(2e6) / 2) = 0.027 for S = 1000.
TOLERANCE = math.sqrt(0.1 / SEEDS * math.log(2e6) / 2)


def test_noise_zero_keeps_the_oracles_ranking():
    values = oracle(Toy(endings=NOISY_ENDINGS), rollouts=1, noise=0.0, seed=3).q_values(ACTIONS)
    assert within_question_auc([(values[:20], values[20:])]) == (0.75, 1)
    assert values == [1.0] * 15 + [0.0] * 5 + [1.0] * 5 + [0.0] * 15


def test_full_noise_ranks_at_chance():
    assert TOLERANCE < 0.03
    assert abs(mean_auc(1.0) - 0.5) < TOLERANCE


def test_half_noise_keeps_three_quarters_of_the_margin_over_chance():
    auc = mean_auc(0.5)
    assert abs(auc - predicted(0.75, 0.5)) < TOLERANCE  # 0.6875
    assert abs(auc - (0.5 + 0.5 * 0.25)) > TOLERANCE  # not the linear 0.625 a naive reading would expect


def test_noise_is_deterministic_under_its_seed_and_drawn_per_pair():
    def values(seed, actions=ACTIONS):
        return oracle(Toy(endings=NOISY_ENDINGS), rollouts=1, noise=0.5, seed=seed).q_values(actions)

    assert values(7) == values(7)
    assert values(7) != values(8)
    assert values(7, ACTIONS[::-1]) == values(7)[::-1]  # the draw belongs to the pair, not its position
    replaced = sum(v not in (0.0, 1.0) for v in values(7))
    assert 0 < replaced < len(ACTIONS)


# ---- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sets,message",
    [
        (["eval.qvm=oracle", "eval.oracle_rollouts=-1"], "eval.oracle_rollouts must be at least 1, got -1"),
        (["eval.qvm=oracle", "eval.oracle_rollouts=0"], "eval.oracle_rollouts must be at least 1, got 0"),
        (["eval.qvm=oracle", "eval.oracle_noise=1.5"], "eval.oracle_noise must be at most 1, got 1.5"),
        (["eval.qvm=oracle", "eval.oracle_noise=-0.1"], "eval.oracle_noise must be at least 0, got -0.1"),
        (["eval.qvm=oracle", "eval.oracle_target=median"], "unknown eval.oracle_target 'median'"),
        (["eval.qvm=runs/qvm", "eval.oracle_noise=0.5"], "eval.oracle_noise .* is a setting of the oracle heuristic"),
        (["eval.qvm=oracle", "eval.heuristic=zero"], "--qvm oracle stands in for a Q-value model, and --search astar"),
        (["eval.search=mcts", "eval.qvm=oracle"], "--qvm oracle stands in for a Q-value model, and --search mcts"),
        (["eval.search=best-of-n", "eval.rank_by=prm", "eval.prm=m", "eval.qvm=oracle"], "--qvm oracle stands in"),
        (["eval.search=greedy", "eval.qvm=oracle"], "--search greedy does not use eval.qvm"),
    ],
)
def test_bad_oracle_settings_are_refused_by_the_config(sets, message):
    with pytest.raises(QstarError, match=message):
        resolve(EvalConfig, None, sets)


def test_oracle_settings_resolve_where_a_qvm_is_used():
    for sets in (
        ["eval.search=astar"],
        ["eval.search=beam"],
        ["eval.search=best-of-n"],
        ["eval.search=mcts", "eval.mcts_reward=qvm"],
    ):
        config = resolve(EvalConfig, None, [*sets, "eval.qvm=oracle", "eval.oracle_noise=1", "eval.oracle_rollouts=2"])
        assert (config.eval.oracle_noise, config.eval.oracle_rollouts) == (1.0, 2)


def test_questions_without_a_reference_stop_the_oracle_before_any_model_loads(monkeypatch):
    from qstar_cli.stages import eval as stage

    problems = [
        SimpleNamespace(id="q1", question="?", reference="7"),
        SimpleNamespace(id="q2", question="?", reference=""),
    ]
    dataset = SimpleNamespace(default_step_format="line")
    monkeypatch.setattr(stage, "select_problems", lambda data, execution: (dataset, problems, 2))
    config = resolve(EvalConfig, None, ["eval.qvm=oracle"])
    with pytest.raises(
        QstarError,
        match="grades continuations against the reference answers, and 1 of the 2 selected questions have none",
    ):
        stage.plan(config)
    problems[1].reference = "5"
    stage.plan(config)  # no QVM folder is looked for


# ---- what its outputs say -------------------------------------------------------------------
def test_metrics_count_the_oracles_tokens_apart():
    from qstar_cli.stages.eval import eval_metrics

    usage = {"generated_tokens": 10, "policy_calls": 1, "qvm_calls": 1, "prm_calls": 0, "expansions": 1, "scored": 3}
    records = [
        {"correct": c, "answer": "7", "terminals": [], "usage": {**usage, "oracle_tokens": t}}
        for c, t in ((True, 300), (False, 500))
    ]
    m = eval_metrics(records, [], 50)
    assert (m["tokens_per_question"], m["oracle_tokens_per_question"]) == (10, 400)
    records_before = [{**r, "usage": usage} for r in records]  # records of a qstar without the oracle
    assert eval_metrics(records_before, [], 50)["oracle_tokens_per_question"] == 0


def test_manifest_metrics_and_summary_say_the_run_used_the_reference_answers(monkeypatch):
    from qstar_cli import ui
    from qstar_cli.datasets.base import Problem
    from qstar_cli.stages.eval import describe, run_inputs, show_summary

    config = resolve(
        EvalConfig, None, ["eval.qvm=oracle", "eval.oracle_noise=0.25", "data.name=mawps", "policy.backend=hf"]
    )
    d = describe(config, None)
    assert (d["heuristic"], d["uses_reference_answers"], d["qvm"]) == (LABEL, True, "oracle")
    assert d["oracle"] == {"rollouts": 4, "noise": 0.25, "target": "max", "seed": 0}
    assert run_inputs(config, [Problem("q1", "toy", "7")])["heuristic"] == LABEL
    plain = resolve(EvalConfig, None, ["eval.qvm=runs/qvm", "data.name=mawps", "policy.backend=hf"])
    assert describe(plain, None)["uses_reference_answers"] is False
    assert "heuristic" not in run_inputs(plain, [Problem("q1", "toy", "7")])

    rows = []
    monkeypatch.setattr(ui, "summary", lambda title, shown: rows.extend(shown))
    show_summary(
        {
            **d,
            "questions": 2,
            "accuracy": 0.5,
            "accuracy_ci95": [0, 1],
            "pass_at_terminals": 0.5,
            "tokens_per_question": 10,
            "oracle_tokens_per_question": 400,
            "policy_calls_per_question": 1,
            "qvm_calls_per_question": 1,
            "expansions_per_question": 1,
            "wall_seconds": 1,
        },
        "out",
    )
    shown = dict(rows)
    assert shown["heuristic"].startswith("oracle (uses the reference answers): an upper bound, not a method")
    assert shown["oracle tokens / question"] == "400 (not in tokens / question)"
    assert shown["tokens / question"] == "10"


def test_report_rows_mark_the_oracle(tmp_path):
    import json

    from qstar_cli.report.runs import load_runs
    from qstar_cli.stages import report
    from tests.unit.test_report import eval_run

    plain = eval_run(tmp_path / "astar", "astar", [True, False])
    marked = eval_run(tmp_path / "oracle", "astar", [True, True], qvm="oracle")
    metrics = tmp_path / "oracle" / "metrics.json"
    m = json.loads(metrics.read_text())
    m.update(
        heuristic=LABEL,
        uses_reference_answers=True,
        oracle={"rollouts": 4, "noise": 0.5, "target": "max", "seed": 0},
        qvm_backbone=None,
    )
    metrics.write_text(json.dumps(m))
    manifest = json.loads((tmp_path / "oracle" / "manifest.json").read_text())
    manifest.pop("metrics_sha256")
    (tmp_path / "oracle" / "manifest.json").write_text(json.dumps(manifest))
    text = report.run([plain, marked], pair=False)
    row = next(line for line in text.splitlines() if line.startswith("| oracle |"))
    assert "| A* K=6 N=6 budget=64 with oracle noise=0.5 (uses the reference answers) |" in row
    assert "| oracle M=4 noise=0.5 (uses the reference answers) |" in row
    assert "uses the reference" not in next(line for line in text.splitlines() if line.startswith("| astar |"))
    runs = load_runs([plain, marked])
    assert [r.oracle for r in runs] == [None, m["oracle"]]
