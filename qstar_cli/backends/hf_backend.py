"""The transformers backend: batched `generate` for machines without vLLM.

Prompts are repeated `n` times, sorted by length (less padding) and generated in left-padded
batches. Stop strings use transformers' own `stop_strings`; because a token can run past the stop
string (".\n\n" for a "\n" stop), each row is cut right after the first stop string, like vLLM
does. Logprobs come from the raw logits (before temperature), as vLLM reports them by default.

Sampling is seeded per request when the caller names each prompt's question (`keys`, as collect,
label and every search do): each row draws from its own generator, seeded by the policy seed, the
question, the prompt, the sample's index and how often that question sent that prompt before. A
question's samples then do not depend on which questions shared its batches, so a sharded run, a
resumed run and one uninterrupted process write the same records (up to the last bits of float
arithmetic that padding to another batch's length can change).
"""

from __future__ import annotations

import hashlib

from qstar_cli.backends.base import Generation, GenParams, PolicyBackend
from qstar_cli.batching import by_length, padded
from qstar_cli.errors import QstarError


class HFBackend(PolicyBackend):
    name = "hf"
    reusable = True  # its samples depend only on the seed, the question and the requests so far

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        seed: int = 0,
        trust_remote_code: bool = False,
        batch_size: int = 32,
    ):  # the option (policy.options.hf.batch_size): sequences per generate call
        super().__init__()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if self.device == "cuda" else "float32"
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = (
            AutoModelForCausalLM.from_pretrained(
                model_path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code
            )
            .to(self.device)
            .eval()
        )
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.eos_ids = set(eos) | ({self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set())
        self.batch_size = batch_size
        self.model_path = model_path
        self._sent: dict[bytes, int] = {}  # (question, prompt) digest -> requests so far
        self.restart(seed)  # seeded after loading, so a later restart is exactly this state

    def restart(self, seed: int) -> None:
        super().restart(seed)
        self.torch.manual_seed(seed)
        self.seed = seed
        self._sent.clear()

    @staticmethod
    def gpus(options: dict) -> int:
        return 1  # the model on one device (on a CPU-only cluster the launcher asks for none)

    @staticmethod
    def check_options(options: dict, where: str) -> None:
        if options.get("batch_size", 32) <= 0:
            raise QstarError(f"{where}.batch_size must be positive, got {options['batch_size']}")

    def _generate_text(self, prompts: list[str], params: GenParams, keys: list | None = None) -> list[list[Generation]]:
        seeds = None
        if params.temperature > 0 and keys is not None and all(k is not None for k in keys):
            seeds = [self._row_seeds(key, prompt, params.n) for key, prompt in zip(keys, prompts)]
        return self._generate([self.encode(p) for p in prompts], params, seeds)

    def _row_seeds(self, key, prompt: str, n: int) -> list[int]:
        """The seeds of one request's n samples: the same for the same question, prompt and
        occurrence, whatever else is in the batch (MCTS sends one state many times: each time new)."""
        digest = hashlib.sha256(f"{self.seed}\0{key}\0{prompt}".encode()).digest()
        occurrence = self._sent.get(digest, 0)
        self._sent[digest] = occurrence + 1
        return [
            int.from_bytes(hashlib.sha256(digest + f"{occurrence}/{j}".encode()).digest()[:8], "big") >> 1
            for j in range(n)
        ]

    def _generate(
        self, prompt_ids: list[list[int]], params: GenParams, seeds: list[list[int]] | None = None
    ) -> list[list[Generation]]:
        rows = [(i, ids) for i, ids in enumerate(prompt_ids) for _ in range(params.n)]
        row_seeds = [seed for per_prompt in seeds for seed in per_prompt] if seeds else None
        results: list[list[Generation]] = [[] for _ in prompt_ids]
        done: dict[int, Generation] = {}
        for chunk in by_length([ids for _, ids in rows], self.batch_size):
            chunk_seeds = [row_seeds[r] for r in chunk] if row_seeds else None
            for r, gen in zip(chunk, self._batch([rows[r][1] for r in chunk], params, chunk_seeds)):
                done[r] = gen
        for r in range(len(rows)):  # back to prompt order, samples in the order they were asked
            results[rows[r][0]].append(done[r])
        return results

    def _batch(self, batch: list[list[int]], params: GenParams, seeds: list[int] | None = None) -> list[Generation]:
        torch = self.torch
        pad = self.tokenizer.pad_token_id
        rows, masks = padded(batch, pad, left=True)  # left: every row ends where its new tokens begin
        input_ids = torch.tensor(rows, device=self.device)
        mask = torch.tensor(masks, device=self.device)
        width = input_ids.shape[1]
        sample = params.temperature > 0
        kwargs = dict(
            max_new_tokens=params.max_tokens,
            do_sample=sample,
            pad_token_id=pad,
            return_dict_in_generate=True,
            output_logits=params.logprobs is not None,
        )
        if sample and seeds:  # each row draws from its own generator; generate then takes the drawn token
            from transformers import LogitsProcessorList

            kwargs.update(
                do_sample=False,
                logits_processor=LogitsProcessorList(
                    [_SeededSampler(seeds, params.temperature, params.top_p, self.device)]
                ),
            )
        elif sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        new = out.sequences[:, width:].tolist()
        logps = self._logprobs(out.sequences[:, width:], out.logits, params) if params.logprobs is not None else None
        return [self._row(b, ids, params, logps) for b, ids in enumerate(new)]

    def _logprobs(self, sequences, logits, params: GenParams):
        """(chosen-token logprobs (batch, steps), top-k logprobs (batch, steps, k) or None).

        One step at a time: stacking every step's full-vocabulary log-softmax in float32 first needs
        batch x steps x vocab x 4 bytes (24 GiB for 96 sequences of 512 tokens over a 49k vocabulary).
        """
        torch = self.torch
        chosen, tops = [], []
        for step, step_logits in enumerate(logits):
            lp = step_logits.float().log_softmax(-1)
            chosen.append(lp.gather(-1, sequences[:, step : step + 1]).squeeze(-1))
            if params.logprobs:
                tops.append(lp.topk(params.logprobs, dim=-1).values)
        return torch.stack(chosen, dim=1), (torch.stack(tops, dim=1) if tops else None)

    def _row(self, b: int, ids: list[int], params: GenParams, logps) -> Generation:
        finish = "length"
        for i, t in enumerate(ids):
            if t in self.eos_ids:
                ids, finish = ids[:i], "eos"  # the EOS token itself is not part of the text
                break
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        cut = _first_stop(text, params.stop)
        if cut is not None:
            # keep the tokens up to the one that completes the stop string
            lengths, pos = self.piece_lengths(ids), 0
            for i, n in enumerate(lengths):
                pos += n
                if pos >= cut:
                    ids = ids[: i + 1]
                    break
            text, finish = text[:cut], "stop"
        token_lps = tops = None
        if logps is not None:
            chosen, top = logps
            token_lps = chosen[b, : len(ids)].tolist()
            if top is not None:
                tops = top[b, : len(ids)].tolist()
        return Generation(text, ids, finish, token_lps, tops)


class _SeededSampler:
    """A logits processor that samples each row from its own seeded stream (temperature, then
    nucleus top-p, as vLLM and transformers' sampling do) and leaves only the drawn token possible,
    so greedy decoding takes it.

    The stream is counter-based: row b's uniform at decoding step t is a hash of (seed_b, t), and
    the token is found by inverse CDF. So a row's draw depends only on its seed and step, not on its
    batch, and the whole batch draws in a few tensor operations instead of one torch.Generator and
    one `multinomial` per row per step (326 -> 125 ms a step at batch 256 on a 2-core CPU; on an H200
    a step costs 32 ms with it against 25 with transformers' own sampling, README)."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float, device: str):
        import torch

        self.torch, self.temperature, self.top_p = torch, temperature, top_p
        seeds = torch.tensor(seeds, dtype=torch.int64, device=device)  # 63-bit seeds
        # one 32-bit key per row; the odd constants keep seed 0 at step 0 off hash(0) = 0
        self.key = _hash32(_hash32((seeds & _MASK32) ^ 0x85EBCA6B) ^ (seeds >> 32))
        self.step = 0

    def uniforms(self):
        """This step's uniform in [0, 1) for each row, with 53 random bits, then advance."""
        torch = self.torch
        h1 = _hash32(self.key ^ _hash32(torch.full_like(self.key, self.step ^ 0xC2B2AE35)))
        h2 = _hash32(h1 ^ 0x9E3779B9)
        self.step += 1
        return ((h1 << 21) + (h2 >> 11)).double() / 2.0**53

    def __call__(self, input_ids, scores):
        torch = self.torch
        probs = (scores.float() / self.temperature).softmax(-1)
        order = None
        if self.top_p < 1.0:  # draw among the sorted tokens, then map back
            probs, order = probs.sort(-1, descending=True)
            outside = probs.cumsum(-1) - probs >= self.top_p  # mass before the token already >= top_p
            probs = probs.masked_fill(outside, 0.0)
        cdf = probs.double().cumsum(-1)
        # the first token whose cumulative mass exceeds u * total: a zero-probability token never
        # does (its cdf equals the one before it), and u < 1 keeps the point below the total
        point = self.uniforms() * cdf[:, -1]
        drawn = torch.searchsorted(cdf, point[:, None], right=True).clamp(max=scores.shape[-1] - 1)
        if order is not None:
            drawn = order.gather(-1, drawn)
        return torch.full_like(scores, float("-inf")).scatter(-1, drawn, 0.0)


_MASK32 = 0xFFFFFFFF


def _hash32(x):
    """A 32-bit integer hash (Wellons' lowbias32) of each element of an int64 tensor holding values
    below 2**32. Multiplications go by 16-bit halves so no intermediate leaves int64 (a signed
    overflow would be undefined)."""

    def mul(v, c):  # v * c mod 2**32
        return ((v & 0xFFFF) * c + ((((v >> 16) * c) & 0xFFFF) << 16)) & _MASK32

    x = x & _MASK32
    x = mul(x ^ (x >> 16), 0x7FEB352D)
    x = mul(x ^ (x >> 15), 0x846CA68B)
    return x ^ (x >> 16)


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """End offset of the earliest stop string in text, or None."""
    hits = [(text.find(s), s) for s in stops if s and s in text]
    if not hits:
        return None
    pos, s = min(hits)
    return pos + len(s)
