"""The GRPO rule reward: how close the SID written after `</think>` is to the target's SID.

    reward = 0                      nothing parses (no `</think>`, or no complete SID after it)
           = 0.25 / 0.5 / 1.0       the first 1 / 2 / all levels of the parsed SID match the target's
           + 0.1                    the parsed SID is a real item (any item: a valid answer is worth something)

(SID reasoning, stage 2.) The answer is the first complete SID after the first `</think>`: a run
of SID tokens whose levels appear in order `<a_..><b_..><c_..>`; text or a partial SID before it is
skipped, as `SidMap.item_for_text` does. Matching is by prefix: a wrong first level scores 0 even
when later levels coincide, because a later code only means something under its parent. For SID
maps with more than three levels (e.g. a disambiguation level), partial matches keep doubling from
0.25 and are capped at 0.75, so only the whole SID earns 1.0.

Optionally (`train grpo --grounding-reward V`, on in the cpu preset) a second rule reward,
`GroundedReward`, adds V when the reasoning raises no `core.eval.faithfulness` flag against the
prompt's history and the catalogue, its conclusion included (the answer-consistency flag against
the parsed answer). It is a rule over the metadata, not a reasoning label: without it, seven GRPO
steps from an outcome-only reward let the conclusion drift from the answer it produced (the check
fired on 8.5% of the parent's traces and 42.5% of the child's), because the SID reward never reads
the reasoning. TRL sums the two (`reward`) and logs each (`rewards/<name>/mean`).

Optionally (`train grpo --likelihood-reward V`) a third reward, `LikelihoodReward`, adds V x the
policy's own mean per-token probability of the TARGET's SID right after the completion's reasoning
(prompt + reasoning up to `</think>`, the target's SID tokens scored by teacher forcing; 0 when the
reasoning never closes). It is an outcome reward (it reads only the target, as the rule does), but
dense: the rule pays a level-1 match of a sampled answer, which at temperature 1 is rare (about one
completion of a step's 16 in the cpu-preset runs), so most groups differ only by the real-item bonus;
every reasoning changes the target's probability, and the evaluation ranks items by exactly that
probability after the reasoning. The reference-probability reward of RLPR (Yu et al., 2025), which
takes the mean token probability rather than its log for its lower variance. Within a group the
prompt's own baseline cancels in the advantages, so what is rewarded is how much a reasoning raises
the target over its siblings.

The rule rewards read the completion text. SID tokens are NON-special added tokens
(`core.llm.sid_tokens`), so TRL's `batch_decode(..., skip_special_tokens=True)` keeps them;
`tests/train/test_rewards.py` checks the text TRL hands over against the completion ids.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.llm.prompts import THINK_END
from core.sid.sidmap import SidMap, parse_tokens

VALID_BONUS = 0.1


def parse_answer(text: str, levels: int) -> tuple[int, ...] | None:
    """Codes of the first complete SID after the first `</think>` in `text`, or None."""
    _, found, answer = text.partition(THINK_END)
    if not found:
        return None
    pairs = parse_tokens(answer)
    for start in range(len(pairs) - levels + 1):
        window = pairs[start:start + levels]
        if [level for level, _ in window] == list(range(levels)):
            return tuple(code for _, code in window)
    return None


def prefix_match(codes: tuple[int, ...], target: tuple[int, ...]) -> int:
    """How many leading levels of `codes` equal the target's."""
    matched = 0
    for a, b in zip(codes, target):
        if a != b:
            break
        matched += 1
    return matched


def level_reward(matched: int, levels: int) -> float:
    """0 for no match, 1.0 for all levels, else 0.25 doubling per level (at most 0.75)."""
    if matched == 0:
        return 0.0
    if matched >= levels:
        return 1.0
    return min(0.25 * 2 ** (matched - 1), 0.75)


@dataclass
class Scored:
    reward: float
    parsed: bool
    exact: bool
    item_id: str | None


def score_completion(text: str, target_item: str, sidmap: SidMap) -> Scored:
    """The reward of one completion for the user whose next item is `target_item`."""
    codes = parse_answer(text, sidmap.levels)
    if codes is None:
        return Scored(0.0, False, False, None)
    item = sidmap.item_for(codes)
    matched = prefix_match(codes, sidmap.sid(target_item))
    reward = level_reward(matched, sidmap.levels) + (VALID_BONUS if item is not None else 0.0)
    return Scored(reward, True, matched == sidmap.levels, item)


class SidReward:
    """A TRL reward function: `reward(prompts, completions, target=[...])` -> one float per completion.

    `target` is the dataset column holding each prompt's target item id (TRL repeats it per
    generation). When TRL passes `log_metric`, the batch's share of parseable answers (`parseable`)
    and of exact hits (`exact`) are logged next to TRL's own reward statistics.
    """

    __name__ = "sid_reward"  # TRL names the reward's metrics after it

    def __init__(self, sidmap: SidMap):
        self.sidmap = sidmap

    def __call__(self, prompts, completions, target, log_metric=None, **kwargs) -> list[float]:
        scored = [score_completion(_text(c), t, self.sidmap) for c, t in zip(completions, target, strict=True)]
        if log_metric is not None and scored:
            log_metric("parseable", sum(s.parsed for s in scored) / len(scored))
            log_metric("exact", sum(s.exact for s in scored) / len(scored))
        return [s.reward for s in scored]


class GroundedReward:
    """A TRL reward function: `value` for a completion whose reasoning is clean by every faithfulness
    flag, given the prompt's shown `history` (a dataset column of item ids, repeated per generation
    by TRL), else 0. A completion without `</think>` earns nothing."""

    __name__ = "grounded_reward"

    def __init__(self, checker, value: float, needs_level: int = 0):
        """`checker`: a `core.eval.faithfulness.FaithfulnessChecker` of the dataset and SID map.
        `needs_level` > 0: the bonus also needs the answer to match the target's first `needs_level`
        SID levels, so clean reasoning before a wrong answer earns nothing (the grounding bonus alone
        was hacked: one template of claims the checker could not verify, before popular answers)."""
        self.checker, self.sidmap, self.value, self.needs_level = checker, checker.sidmap, value, needs_level

    def check(self, text: str, history, target: str | None = None) -> tuple[dict, bool]:
        """(the faithfulness flags of the text's reasoning and answer, whether it earns the bonus: it
        closed `</think>`, raised no flag and, with `needs_level`, its answer matches `target` that
        far); the group viewer shows the flags it rewarded."""
        reasoning, found, _ = text.partition(THINK_END)
        codes = parse_answer(text, self.sidmap.levels)
        flags = self.checker.flags(reasoning, history, answer=self.sidmap.item_for(codes) if codes else None)
        return flags, bool(found) and not any(flags.values()) and self._reaches_level(codes, target)

    def _reaches_level(self, codes: tuple[int, ...] | None, target: str | None) -> bool:
        """Whether the parsed answer matches `target` to `needs_level` (always, without either)."""
        if not self.needs_level or target is None:
            return True
        return codes is not None and prefix_match(codes, self.sidmap.sid(target)) >= self.needs_level

    def grounded(self, text: str, history, target: str | None = None) -> bool:
        """`check`'s verdict alone; the reward's hot path skips the checker when `</think>` never closed
        or the answer misses the level the bonus needs."""
        return (THINK_END in text and self._reaches_level(parse_answer(text, self.sidmap.levels), target)
                and self.check(text, history, target)[1])

    def __call__(self, prompts, completions, history, target=None, log_metric=None, **kwargs) -> list[float]:
        targets = target if target is not None else [None] * len(completions)
        clean = [self.grounded(_text(c), h, t) for c, h, t in zip(completions, history, targets, strict=True)]
        if log_metric is not None and clean:
            log_metric("grounded", sum(clean) / len(clean))
        return [self.value if ok else 0.0 for ok in clean]


def target_likelihoods(model, tokenizer, sidmap: SidMap, prompts: list[str], completion_ids: list[list[int]],
                       targets: list[str]) -> list[float | None]:
    """Per completion: the mean per-token probability the model gives the target's SID right after the
    completion's reasoning (prompt, then the completion's tokens up to the one that completes `</think>`),
    or None when the completion never closes `</think>`. `prompts` are rendered text, one per completion;
    a run of completions with the same prompt (a GRPO group) shares one prompt forward
    (`core.decode.logps.completion_logps`). No gradients."""
    import math

    import torch

    from core.decode.logps import completion_logps
    from core.eval.traces import think_end_length

    if not len(prompts) == len(completion_ids) == len(targets):
        raise ValueError("one prompt and one target per completion")
    out: list[float | None] = [None] * len(prompts)
    runs: dict[str, list[tuple[int, list[int]]]] = {}
    for i, (prompt, ids, target) in enumerate(zip(prompts, completion_ids, targets)):
        kept = think_end_length(tokenizer, list(ids))
        if kept is not None:
            answer = tokenizer.convert_tokens_to_ids(sidmap.sid_tokens(target))
            runs.setdefault(prompt, []).append((i, list(ids[:kept]) + answer))
    with torch.no_grad():
        for prompt, rows in runs.items():
            sums = completion_logps(model, tokenizer, [prompt], [[seq for _, seq in rows]], last=sidmap.levels)[0]
            for (i, _), total in zip(rows, sums.tolist()):
                out[i] = math.exp(total / sidmap.levels)
    return out


class LikelihoodReward:
    """A TRL reward function: `value` x the policy's mean per-token probability of the target's SID after
    each completion's reasoning (`target_likelihoods`), 0 when the reasoning never closes. TRL passes the
    completions' token ids (`completion_ids`); `model` is the policy, set once the trainer holds it. Logs
    the mean probability over closed reasonings as `target_prob`."""

    __name__ = "likelihood_reward"

    def __init__(self, tokenizer, sidmap: SidMap, value: float, model=None):
        self.tokenizer, self.sidmap, self.value, self.model = tokenizer, sidmap, value, model

    def __call__(self, prompts, completions, completion_ids, target, log_metric=None, **kwargs) -> list[float]:
        from core.llm.prompts import render_prompt

        if self.model is None:
            raise RuntimeError("LikelihoodReward needs the policy: set .model before training")
        texts = [p if isinstance(p, str) else render_prompt(self.tokenizer, p) for p in prompts]
        probs = target_likelihoods(self.model, self.tokenizer, self.sidmap, texts, completion_ids, target)
        closed = [p for p in probs if p is not None]
        if log_metric is not None and closed:
            log_metric("target_prob", sum(closed) / len(closed))
        return [self.value * (p or 0.0) for p in probs]


def _text(completion) -> str:
    """A completion as TRL passes it: a string, or a conversational list of messages."""
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content", "") for message in completion)
