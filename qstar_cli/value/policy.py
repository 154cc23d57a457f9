"""The policy backbone (`train.backbone: policy`): the QVM reads the policy's own states.

A frozen causal LM (the label runs' policy unless `train.policy_model` names another) reads the
QVM input (question, steps so far, candidate step; value/format.py) and its hidden state at the
last token, at one layer, feeds a small trained head: `linear` (logistic regression) or `mlp` (one
hidden layer). Features come from one forward pass per example, for every candidate layer at once,
and are kept in memory: each layer's head then trains for `train.policy_head_epochs` epochs on
them without another pass of the policy. The layer kept is the one whose head ranks a question's
steps best on validation questions split off the TRAINING questions (within-question ROC-AUC, the
comparison A* makes); the held-out questions that the metrics report never take part in the
choice. A saved policy QVM is a qvm/ folder like any other: `qstar_qvm.json` (its `head` entry
names the policy, the layer and the head) and `model.safetensors` (the head alone; the policy is
loaded from its reference). `QVM.load` returns a `PolicyQVM`, which scores as `QVM` does.
"""

from __future__ import annotations

import time
from pathlib import Path

from qstar_cli import ui
from qstar_cli.batching import by_length, padded
from qstar_cli.errors import QstarError
from qstar_cli.value.format import encode
from qstar_cli.value.meta import QVMMeta, SavedQVM
from qstar_cli.value.metrics import grouped_auc
from qstar_cli.value.train import Example, class_weights, targets

BACKBONE = "policy"
AUTO_LAYERS = 5  # "auto": this many evenly spaced layers, the last included
MLP_HIDDEN = 256
HEAD_BATCH = 256  # examples per step of the head's training
VALIDATION_FRACTION = 0.2  # of the training questions, when train.validation_fraction is 0


def check_layers_spec(spec) -> None:
    """train.policy_layers: "auto" or a non-empty list of layer numbers (1 = the first block's
    output; negative counts from the last, -1 = the last)."""
    if spec == "auto":
        return
    if (
        not isinstance(spec, list)
        or not spec
        or not all(isinstance(k, int) and not isinstance(k, bool) and k != 0 for k in spec)
    ):
        raise QstarError(
            f"train.policy_layers must be 'auto' or a list of non-zero layer numbers "
            f"(1 = the first layer's output, -1 = the last), got {spec!r}"
        )


def layers_for(spec, n_layers: int) -> list[int]:
    """The layers (1..n_layers) that `spec` names in a policy of `n_layers` layers."""
    check_layers_spec(spec)
    if spec == "auto":
        return sorted({max(1, round(n_layers * (i + 1) / AUTO_LAYERS)) for i in range(AUTO_LAYERS)})
    out = []
    for k in spec:
        layer = k if k > 0 else n_layers + 1 + k
        if not 1 <= layer <= n_layers:
            raise QstarError(
                f"train.policy_layers names layer {k}, but the policy has {n_layers} layers "
                f"(1..{n_layers}, or -1..-{n_layers})"
            )
        out.append(layer)
    return sorted(set(out))


def policy_reference(cfg, label_policy: str | None) -> str:
    """The frozen policy to read: train.policy_model, else the label runs' policy (else the embedded one)."""
    return cfg.policy_model or label_policy or "embedded"


def check_policy(cfg, label_policy: str | None) -> tuple[str, list[int]]:
    """(resolved policy, layers), checked from the policy's config alone: nothing heavy loads."""
    from transformers import AutoConfig

    from qstar_cli.backends.models import resolve_model

    path = resolve_model(policy_reference(cfg, label_policy))
    try:
        n_layers = AutoConfig.from_pretrained(path).num_hidden_layers
    except (OSError, ValueError, AttributeError) as exc:
        raise QstarError(
            f"cannot read the policy backbone's config at {path}: {str(exc).splitlines()[0][:200]}"
        ) from None
    return path, layers_for(cfg.policy_layers, n_layers)


class Policy:
    """A frozen causal LM that returns, per QVM input, its hidden state at the last token."""

    def __init__(self, path: str, max_length: int, batch_size: int = 32, device: str | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, dtype=torch.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise QstarError(f"cannot load the policy backbone {path!r}: {str(exc).splitlines()[0][:300]}") from None
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.n_layers = model.config.num_hidden_layers
        self.max_length, self.batch_size = max_length, batch_size
        self.calls = 0  # forward passes

    def features(self, items: list[tuple[str, list[str], str]], layers: list[int]) -> dict:
        """{layer: float32 tensor [len(items), hidden]}: the hidden state after `layer` blocks at each
        input's last token, all layers from one forward pass per batch (right padding)."""
        torch = self.torch
        ids = [encode(self.tokenizer, q, steps, a, self.max_length) for q, steps, a in items]
        out = {k: torch.zeros(len(ids), self.model.config.hidden_size) for k in layers}
        with torch.inference_mode():
            for batch in by_length(ids, self.batch_size):
                rows, masks = padded([ids[i] for i in batch], self.tokenizer.pad_token_id)
                mask = torch.tensor(masks, device=self.device)
                hidden = self.model(
                    input_ids=torch.tensor(rows, device=self.device), attention_mask=mask, output_hidden_states=True
                ).hidden_states
                last = mask.sum(dim=1) - 1
                at = torch.arange(len(batch), device=self.device)
                for k in layers:
                    out[k][batch] = hidden[k][at, last].float().cpu()
                self.calls += 1
        return out


def new_head(dim: int, kind: str, mean, std):
    """The trained part: features standardised by the training set's mean and spread, then a
    linear map or one hidden layer, to one logit."""
    import torch

    if kind == "linear":
        net = torch.nn.Linear(dim, 1)
    else:
        net = torch.nn.Sequential(torch.nn.Linear(dim, MLP_HIDDEN), torch.nn.GELU(), torch.nn.Linear(MLP_HIDDEN, 1))
    head = torch.nn.Module()
    head.net = net
    head.register_buffer("mean", mean.clone())
    head.register_buffer("std", std.clone())
    return head


def head_logits(head, x):
    return head.net((x - head.mean) / head.std).squeeze(-1)


def fit_head(x, examples: list[Example], cfg):
    """A fresh head trained on features `x` of `examples` (targets, class weights and loss as for
    any QVM: train.target, train.class_balance, train.loss), in seeded mini-batches."""
    import torch

    torch.manual_seed(cfg.seed)
    head = new_head(x.shape[1], cfg.policy_head, x.mean(dim=0), x.std(dim=0).clamp_min(1e-6))
    ys = torch.tensor(targets(examples, cfg), dtype=torch.float32)
    ws = torch.tensor(class_weights(examples, cfg.class_balance), dtype=torch.float32)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.policy_head_lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for _ in range(cfg.policy_head_epochs):
        total = 0.0
        for idx in torch.randperm(len(ys), generator=g).split(HEAD_BATCH):
            logits = head_logits(head, x[idx])
            if cfg.loss == "bce":
                each = torch.nn.functional.binary_cross_entropy_with_logits(logits, ys[idx], reduction="none")
            else:
                each = (torch.sigmoid(logits) - ys[idx]) ** 2
            loss = (each * ws[idx]).sum() / ws[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        losses.append(total / len(ys))
    head.eval()
    return head, losses


def head_scores(head, x) -> list[float]:
    import torch

    with torch.inference_mode():
        return torch.sigmoid(head_logits(head, x)).tolist()


def layer_auc(scores: list[float], examples: list[Example]) -> float | None:
    """What a layer is chosen by: the within-question ROC-AUC of its head on validation examples."""
    return grouped_auc(scores, [e.y >= 0.5 for e in examples], [e.qid for e in examples])[0]


def choose_layer(train_x: dict, train: list[Example], val_x: dict, validation: list[Example], cfg):
    """(layer, {layer: validation AUC}, {layer: (head, losses)}): a head per layer trained on
    `train`, the layer whose head has the best `layer_auc` on `validation` kept (ties: the lower
    layer; no defined AUC: the last layer)."""
    heads, aucs = {}, {}
    for k in sorted(train_x):
        heads[k] = fit_head(train_x[k], train, cfg)
        aucs[k] = layer_auc(head_scores(heads[k][0], val_x[k]), validation)
    scored = [k for k in aucs if aucs[k] is not None]
    if not scored:
        ui.warn(
            f"no validation question has both a right and a wrong step: the layer cannot be chosen, the last "
            f"candidate ({max(aucs)}) is kept; raise train.validation_fraction or label more questions"
        )
    best = max(scored, key=lambda k: (aucs[k], -k)) if scored else max(aucs)
    return best, aucs, heads


class PolicyQVM(SavedQVM):
    """A QVM whose backbone is the frozen policy: the `QVM` interface search and labelling use."""

    def __init__(self, policy: Policy, head, meta: QVMMeta):
        self.policy, self.head, self.meta = policy, head, meta
        self.layer = meta.head["layer"]
        self.tokenizer = policy.tokenizer
        self.scored = 0

    @property
    def calls(self) -> int:
        return self.policy.calls

    @classmethod
    def load(cls, path: str | Path, meta: QVMMeta, batch_size: int = 32) -> PolicyQVM:
        from safetensors.torch import load_file

        from qstar_cli.backends.models import resolve_model

        info = meta.head
        policy = Policy(resolve_model(info["policy"]), meta.max_length, batch_size)
        state = load_file(str(Path(path) / "model.safetensors"))
        head = new_head(info["dim"], info["kind"], state["mean"], state["std"])
        head.load_state_dict(state)
        return cls(policy, head.eval(), meta)

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(path / "model.safetensors"))
        self.write_meta(path)

    def score(self, items: list[tuple[str, list[str], str]]) -> list[float]:
        if not items:
            return []
        scores = head_scores(self.head, self.policy.features(items, [self.layer])[self.layer])
        self.scored += len(items)
        return scores


def fit_policy_qvm(
    train: list[Example], validation: list[Example], cfg, meta: QVMMeta
) -> tuple[PolicyQVM, list[float], float, dict]:
    """Features of the training and validation examples for every candidate layer (one pass), a
    head per layer, the layer chosen on `validation`: (the QVM, the chosen head's losses, the
    seconds it took, the backbone's record for metrics.json). The held-out examples never come
    here: fit.py scores them with the finished QVM, as it does every backbone's."""
    path, layers = check_policy(cfg, meta.policy)
    policy = Policy(path, cfg.max_length, cfg.score_batch_size)
    ui.info(
        f"policy backbone {path}: features at layers {', '.join(map(str, layers))} of {policy.n_layers} for "
        f"{len(train):,} training and {len(validation):,} validation examples "
        f"({len({e.qid for e in validation})} validation questions choose the layer)"
    )
    start = time.perf_counter()
    items = lambda exs: [(e.question, e.steps, e.action) for e in exs]  # noqa: E731
    train_x = policy.features(items(train), layers)
    val_x = policy.features(items(validation), layers)
    feature_seconds = time.perf_counter() - start
    layer, aucs, heads = choose_layer(train_x, train, val_x, validation, cfg)
    head, losses = heads[layer]
    meta.backbone = BACKBONE
    meta.max_length = cfg.max_length
    meta.head = {
        "policy": policy_reference(cfg, meta.policy),
        "layer": layer,
        "kind": cfg.policy_head,
        "dim": train_x[layer].shape[1],
    }
    qvm = PolicyQVM(policy, head, meta)
    record = {
        "policy": meta.head["policy"],
        "layers": policy.n_layers,
        "head": cfg.policy_head,
        "chosen_layer": layer,
        "validation_within_question_auc": {str(k): aucs[k] for k in sorted(aucs)},
        "feature_seconds": round(feature_seconds, 2),
    }
    return qvm, losses, time.perf_counter() - start, record
