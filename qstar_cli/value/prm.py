"""Process reward models (PRMs): a score in [0, 1] for every step of a partial solution, A*'s R_P.

`PRM.step_scores` takes (question, steps) pairs and returns one score per step, reading the model
at a tag placed after each step. The text is `template` with `{question}` replaced by the question
and `{steps}` by every step, right-stripped (qstar steps carry their own line break, which PRMs
expect to follow the tag instead), each followed by `step_tag`. The score is read at the last
token of the tag without its trailing whitespace (the whole tag when it is only whitespace), so a
tag like " ки\\n" is read at "ки", as Math-Shepherd was trained. Three modes cover the public PRMs:
`token_logits` (a causal LM; score = softmax over the logits of `good_token` and `bad_token`) for
Math-Shepherd (peiyi9979/math-shepherd-mistral-7b-prm: step_tag " ки\\n", good "+", bad "-",
template "{question} {steps}"); `classification` (a token classifier with >= 2 labels; score =
softmax probability of `positive_label`) for Qwen/Qwen2.5-Math-PRM-7B (step_tag "<extra_0>",
trust_remote_code, template = its chat template written out with `{question}` in the user turn
and `{steps}<|im_end|>\\n` in the assistant turn); `value_head` (a token classifier with one label;
score = sigmoid of it) for Skywork/Skywork-o1-Open-PRM-Qwen-2.5-* (step_tag "\\n", the default
template). Honestly: Qwen's PRM ships custom code (loaded here through AutoModel when its auto_map
has no token-classification entry), and Skywork's value head lives in its own repository's model
class, whose weights a token-classification head does not load; `PRM.load` refuses any checkpoint
whose head would be randomly initialised, so such a model must first be converted (or its head
loaded by hand and passed to `PRM(...)`). Texts longer than `max_length` keep their end.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Literal

from qstar_cli.batching import by_length, padded
from qstar_cli.errors import QstarError
from qstar_cli.value.format import special_tokens

MODES = ("token_logits", "classification", "value_head")


@dataclass
class PRMConfig:
    model: str  # HF id or local folder
    mode: Literal["token_logits", "classification", "value_head"] = "token_logits"
    template: str = "{question}\n{steps}"  # how (question, steps) become text; {steps} = steps joined by step_tag
    step_tag: str = "\n"  # appended after every step; scores are read at the LAST token of each tag
    good_token: str = "+"  # token_logits: score = softmax([logit(good), logit(bad)])[0] at the tag
    bad_token: str = "-"
    positive_label: int = 1  # classification: score = softmax(logits)[positive_label] at the tag
    max_length: int = 2048
    batch_size: int = 8
    trust_remote_code: bool = False
    dtype: str = "float32"


def build_text(cfg: PRMConfig, question: str, steps: list[str]) -> tuple[str, list[int]]:
    """The PRM input text and, for each step, the character offset just past its tag's read point."""
    head, tail = cfg.template.split("{steps}", 1)
    # str.replace, not str.format: questions and chat templates contain braces (\boxed{})
    text = head.replace("{question}", question.strip())
    key = len(cfg.step_tag.rstrip()) or len(cfg.step_tag)
    ends = []
    for step in steps:
        text += step.rstrip()
        ends.append(len(text) + key)
        text += cfg.step_tag
    return text + tail.replace("{question}", question.strip()), ends


def single_token(tokenizer, token: str, name: str) -> int:
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) == 1:
        return ids[0]
    vocab_id = tokenizer.convert_tokens_to_ids(token)  # a raw vocabulary entry such as "Ġ+"
    if isinstance(vocab_id, int) and vocab_id != tokenizer.unk_token_id and vocab_id < len(tokenizer):
        return vocab_id
    raise QstarError(
        f"prm {name} {token!r} is {len(ids)} tokens for this tokenizer, not one; "
        f"pick a {name} that is a single token of the PRM's vocabulary"
    )


class PRM:
    def __init__(self, tokenizer, model, cfg: PRMConfig, device: str | None = None):
        import torch

        self.torch = torch
        self.tokenizer = tokenizer
        self.model = model
        self.cfg = cfg
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.candidates: list[int] = []
        if cfg.mode == "token_logits":
            self.candidates = [
                single_token(tokenizer, cfg.good_token, "good_token"),
                single_token(tokenizer, cfg.bad_token, "bad_token"),
            ]
        # reading only the tag positions through the LM head avoids a (batch, length, vocab) tensor,
        # gigabytes for 150k-token vocabularies
        self.keep_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.calls = 0  # forward passes, for compute accounting
        self.scored = 0  # (question, steps) items

    @classmethod
    def load(cls, cfg: PRMConfig, device: str | None = None) -> PRM:
        import torch
        from transformers import (
            AutoConfig,
            AutoModel,
            AutoModelForCausalLM,
            AutoModelForTokenClassification,
            AutoTokenizer,
        )

        from qstar_cli.backends.models import resolve_model

        if cfg.mode not in MODES:
            raise QstarError(f"unknown prm mode {cfg.mode!r}; use one of {', '.join(MODES)}")
        if "{steps}" not in cfg.template:
            raise QstarError(f"prm template {cfg.template!r} has no {{steps}} placeholder")
        if not cfg.step_tag:
            raise QstarError("prm step_tag is empty; scores are read at the tag after each step")
        dtype = getattr(torch, cfg.dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise QstarError(f"unknown prm dtype {cfg.dtype!r}; use float32, bfloat16 or float16")
        if not cfg.model:
            raise QstarError("no PRM model given; set the prm model to a Hugging Face id or a local folder")
        path = resolve_model(cfg.model)
        trust = cfg.trust_remote_code
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
            config = AutoConfig.from_pretrained(path, trust_remote_code=trust)
            kwargs = dict(dtype=dtype, trust_remote_code=trust, output_loading_info=True)
            if cfg.mode == "token_logits":
                auto = AutoModelForCausalLM
            else:
                auto_map = getattr(config, "auto_map", None) or {}
                # remote-code PRMs (Qwen2.5-Math-PRM) register their token-level head under AutoModel only
                remote_only = trust and "AutoModel" in auto_map and "AutoModelForTokenClassification" not in auto_map
                auto = AutoModel if remote_only else AutoModelForTokenClassification
                if cfg.mode == "value_head":
                    kwargs["num_labels"] = 1
            model, info = auto.from_pretrained(path, **kwargs)
        except Exception as exc:  # only library loading is inside: corrupt weights raise
            # SafetensorError, remote code anything; all mean the same user problem, a model that won't load
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise QstarError(f"cannot load PRM {cfg.model!r} in {cfg.mode} mode: {first}") from None
        prefix = getattr(model, "base_model_prefix", "") + "."
        head = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
        if head:
            raise QstarError(
                f"PRM {cfg.model!r} has no trained weights for {', '.join(head[:3])} in {cfg.mode} "
                f"mode, so its scores would be random; check the mode or convert the checkpoint"
            )
        labels = getattr(model.config, "num_labels", 0)
        if cfg.mode == "classification" and labels < 2:
            raise QstarError(
                f"PRM {cfg.model!r} has {labels} label(s); classification mode needs at least 2 "
                f"(use value_head for a single-output model)"
            )
        if cfg.mode == "classification" and not 0 <= cfg.positive_label < labels:
            raise QstarError(f"prm positive_label {cfg.positive_label} is not one of the model's {labels} labels")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        return cls(tokenizer, model, cfg, device=device)

    def encode(self, question: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """Token ids (at most max_length) and the index of each step's tag read point in them.

        Too-long texts keep the model's leading special tokens and the end of the text, since the
        latest steps are the ones being scored; steps whose tag was cut off get the position of the
        earliest visible tag (their own score is unknowable without their context).
        """
        text, ends = build_text(self.cfg, question, steps)
        before, _ = special_tokens(self.tokenizer)
        try:
            enc = self.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
            ids, offsets = enc["input_ids"], enc["offset_mapping"]
            positions, i = [], -1
            for end in ends:
                # the last real token starting before the read point: the token holding the tag's
                # last character, however the tag was split or merged with its neighbours
                while i + 1 < len(ids) and offsets[i + 1][0] < end:
                    i += 1
                j = max(i, 0)
                while j > 0 and offsets[j][1] <= offsets[j][0]:  # skip special tokens (empty spans)
                    j -= 1
                positions.append(j)
        except NotImplementedError:  # tokenizers without offsets: tokenize each prefix instead
            ids = self.tokenizer.encode(text, add_special_tokens=True)
            positions = [
                len(before) + len(self.tokenizer.encode(text[:end], add_special_tokens=False)) - 1 for end in ends
            ]
        limit = self.cfg.max_length
        if len(ids) <= limit:
            return ids, positions
        cut = len(ids) - (limit - len(before))
        ids = ids[: len(before)] + ids[len(before) + cut :]
        visible = [p - cut for p in positions if p - cut >= len(before)]
        if not visible:
            raise QstarError(
                f"prm max_length {limit} is too short to reach the last step's tag; raise it "
                f"or shorten the template text after {{steps}}"
            )
        return ids, [max(p - cut, visible[0]) for p in positions]

    def step_scores(self, items: list[tuple[str, list[str]]]) -> list[list[float]]:
        """For each (question, steps), the score in [0, 1] of every step, batched by length."""
        torch = self.torch
        encoded = [self.encode(q, steps) if steps else ([], []) for q, steps in items]
        ids = [e[0] for e in encoded]
        scores: list[list[float]] = [[] for _ in items]
        with torch.inference_mode():
            for batch in by_length(ids, self.cfg.batch_size, [i for i, (_, pos) in enumerate(encoded) if pos]):
                # right padding: a padded row scores exactly as it would alone (batching.py)
                rows, masks = padded([ids[i] for i in batch], self.tokenizer.pad_token_id)
                input_ids = torch.tensor(rows, device=self.device)
                mask = torch.tensor(masks, device=self.device)
                for i, row in zip(batch, self.forward(input_ids, mask, [encoded[i][1] for i in batch])):
                    scores[i] = row
                self.calls += 1
        self.scored += len(items)
        return scores

    def forward(self, input_ids, mask, positions: list[list[int]]) -> list[list[float]]:
        torch = self.torch
        kwargs = {}
        if self.cfg.mode == "token_logits" and self.keep_logits:
            keep = sorted({p for row in positions for p in row})
            kwargs["logits_to_keep"] = torch.tensor(keep, device=self.device)
            column = {p: k for k, p in enumerate(keep)}
            positions = [[column[p] for p in row] for row in positions]
        out = self.model(input_ids=input_ids, attention_mask=mask, **kwargs)
        logits = out.logits if hasattr(out, "logits") else out[0]
        rows = []
        for b, pos in enumerate(positions):
            at = logits[b, torch.tensor(pos, device=self.device)].float()
            if self.cfg.mode == "token_logits":
                p = torch.softmax(at[:, self.candidates], dim=-1)[:, 0]
            elif self.cfg.mode == "classification":
                p = torch.softmax(at, dim=-1)[:, self.cfg.positive_label]
            else:
                p = torch.sigmoid(at[:, 0])
            rows.append(p.tolist())
        return rows
