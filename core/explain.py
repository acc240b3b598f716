"""Why this item, and what would change it: the Reasoning page's explanations of one recommendation.

Attribution (`leave_one_out`): each history item's effect on the log-probability of one recommended
item, measured by occlusion: the prompt is rebuilt without that item and the item's SID is scored
after it (teacher-forced, `core.decode.logps.reused_prefix_logps`): the full prompt runs once and
each leave-one-out prompt runs only from the item it lacks onwards, on the full prompt's KV cache.
`effect = log p(item | full history) - log p(item | history without it)`: positive means the history
item pushed the recommendation up. Only the items the prompt shows (the last `window`) are left out,
each from that same window, so an older item never slides in to take the gap. For a reasoning
variant the reasoning is held fixed (the shown reasoning, `</think>`, then the SID, as the search
scores it): the effect is on the answer given that reasoning; regenerating the reasoning per
occlusion would cost N generations and mix two effects.

What-if (`diff_top`): the top-10 of an edited history against the original's, item by item (new,
gone, moved up or down by how many ranks), and the rank change of one pinned item.

Side by side (`agreement`): how far the top-10s of several variants on one history overlap, and
whether their top-1 items share the level-1 code (the coarse region of the codebook).

What RL rewards (`sample_group`): one GRPO group for a history, sampled from a reasoning variant at a
temperature, each rollout scored by the GRPO reward (`core.train.rewards`: levels of the target's SID
matched, a real item) with its group-normalised advantage computed as TRL's GRPOTrainer does by
default (reward minus the group mean, over the group's unbiased standard deviation + 1e-4): what a
GRPO step would push up (advantage > 0) or down.

Neither SID reasoning nor S-DPO explains a single recommendation; LIT's salience and counterfactual
views for text classifiers are the model for these two.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.data.schema import Dataset
from core.errors import SidLensError
from core.llm.prompts import THINK_END, history_window
from core.sid.sidmap import SidMap


@dataclass(frozen=True)
class Effect:
    item_id: str       # the history item left out
    position: int      # its index in the full history (0 = oldest)
    effect: float      # log p(target | full) - log p(target | without it); > 0: it supports the target


@dataclass(frozen=True)
class Attribution:
    target: str                # the recommended item explained
    logp: float                # log p(target SID | full prompt [+ reasoning])
    effects: list[Effect]      # most influential (largest |effect|) first
    held_fixed: str            # what stays the same across occlusions ("reasoning" or "nothing")
    left_out_of: int           # history items outside the window are not attributed


def leave_one_out(model, tokenizer, meta: dict, sidmap: SidMap, dataset: Dataset, history: list[str], target: str,
                  reasoning: str = "") -> Attribution:
    """Occlusion attribution of `target` (an item id) to each shown history item (module docstring).

    `reasoning` is the generated text of a reasoning variant (up to and including `</think>`,
    see `core.eval.traces.close_reasoning`), appended unchanged to every prompt; "" for direct
    answers. A history of fewer than two items, or a target without a SID, is a one-line error.
    """
    from core.decode.logps import reused_prefix_logps
    from core.llm.prompts import check_history, render_prompt, variant_messages

    history = check_history(sidmap, history)
    window = history_window(meta)
    offset = max(0, len(history) - window)
    shown = history[offset:]
    if len(shown) < 2:
        raise SidLensError("attribution needs a history of at least two items (one is left out at a time)")
    if target not in sidmap.codes:
        raise SidLensError(f"item {target!r} has no SID in {sidmap.dataset}: nothing to attribute")
    variants = [shown] + [shown[:i] + shown[i + 1:] for i in range(len(shown))]
    prompts = [render_prompt(tokenizer, variant_messages(meta, sidmap, dataset, h)[0]) + reasoning for h in variants]
    answer = list(tokenizer(sidmap.sid_text(target), add_special_tokens=False)["input_ids"])
    was_training = model.training
    model.eval()
    try:
        scores = reused_prefix_logps(model, tokenizer, prompts, answer)
    finally:
        model.train(was_training)
    full = scores[0]
    effects = [Effect(item, offset + i, full - s) for i, (item, s) in enumerate(zip(shown, scores[1:]))]
    effects.sort(key=lambda e: (-abs(e.effect), e.position))
    return Attribution(target, full, effects, "reasoning" if reasoning else "nothing", offset)


@dataclass(frozen=True)
class Move:
    item_id: str
    before: int | None   # 1-based rank in the original top-k (None: not in it)
    after: int | None    # 1-based rank in the edited top-k (None: gone)

    @property
    def change(self) -> str:
        """"new", "gone", "same", "up 3" or "down 2"."""
        if self.before is None:
            return "new"
        if self.after is None:
            return "gone"
        if self.after == self.before:
            return "same"
        return f"up {self.before - self.after}" if self.after < self.before else f"down {self.after - self.before}"


def diff_top(before: list[str], after: list[str]) -> list[Move]:
    """The edited top-k (`after`, item ids best first) against the original (`before`): one Move per
    item of either list, in the edited order, then the items that are gone in their old order."""
    old = {item: rank for rank, item in enumerate(before, 1)}
    new = {item: rank for rank, item in enumerate(after, 1)}
    moves = [Move(item, old.get(item), rank) for item, rank in new.items()]
    return moves + [Move(item, rank, None) for item, rank in old.items() if item not in new]


def pinned_change(before: list[str], after: list[str], item: str) -> Move:
    """Where one pinned item stands before and after the edit (None: outside the top-k)."""
    old = {i: r for r, i in enumerate(before, 1)}
    new = {i: r for r, i in enumerate(after, 1)}
    return Move(item, old.get(item), new.get(item))


def edit_history(history: list[str], remove=(), add=(), move_to_latest: str | None = None) -> list[str]:
    """The what-if history: `remove` dropped, `move_to_latest` moved to the end, `add` appended (as
    the latest items, in order, skipping ones already there)."""
    edited = [i for i in history if i not in set(remove) and i != move_to_latest]
    if move_to_latest is not None and move_to_latest in history and move_to_latest not in set(remove):
        edited.append(move_to_latest)
    return edited + [i for i in dict.fromkeys(add) if i not in edited]


@dataclass(frozen=True)
class Belief:
    item_id: str
    sid: str
    title: str           # the real item's title (with its year)
    believed: str        # the model's greedy answer to "Title of <sid>:"
    genres: str          # its greedy answer to "Genres of <sid>:"
    right: bool          # the believed title is the real one (normalised, as the alignment probe scores)


def sid_beliefs(model, tokenizer, dataset: Dataset, sidmap: SidMap, item_ids: list[str], trie=None) -> list[Belief]:
    """What the active model itself thinks each SID is (the SID -> title and SID -> genres answers of
    the alignment probe, `core.eval.alignment.item_answers`), beside the real item: a SID chip in the
    reasoning whose model belief is wrong shows that the model reasons over a SID it does not know."""
    from core.corpus.context import CorpusContext
    from core.eval.alignment import item_answers, normalise

    items = [i for i in dict.fromkeys(item_ids) if i in sidmap.codes and i in dataset.items]
    if not items:
        return []
    ctx = CorpusContext(dataset, sidmap)
    answers = item_answers(model, tokenizer, ctx, items, batch_size=len(items), progress=False, trie=trie)
    return [Belief(a.item_id, sidmap.sid_text(a.item_id), ctx.title(a.item_id), a.title, a.genres,
                   normalise(a.title) == normalise(ctx.title(a.item_id))) for a in answers]


MAX_GROUP = 16


@dataclass(frozen=True)
class Rollout:
    completion: str          # the sampled text (reasoning, `</think>`, answer)
    reasoning: str           # the part before `</think>` (what the faithfulness checker reads)
    answer_item: str | None  # the item of the first complete SID after `</think>` (None: no item)
    parsed: bool             # a complete SID was found after `</think>`
    levels: int              # leading SID levels that match the target's
    reward: float            # the GRPO reward (SID levels, real item, and the grounding bonus when scored)
    advantage: float         # (reward - group mean) / (group std + 1e-4)
    grounded: bool | None = None  # no faithfulness flag, conclusion agreeing with the answer (None: no bonus)
    flags: dict | None = None     # the faithfulness flags `grounded` was judged by (None: not checked)
    target_prob: float | None = None  # mean token probability of the target's SID after the reasoning (None: not
    #                                   scored, or the reasoning never closed)


def sample_group(model, tokenizer, prompt: str, sidmap: SidMap, target: str, group_size: int = 8,
                 temperature: float = 1.0, max_new_tokens: int = 176, seed: int = 0,
                 grounded_by=None, history: list[str] | None = None, likelihood: float = 0.0) -> list[Rollout]:
    """`group_size` completions of the rendered `prompt`, sampled (seeded) at `temperature`, each
    with its reward for `target` and its advantage within the group (module docstring).

    `grounded_by`: a `core.train.rewards.GroundedReward` (as `train grpo --grounding-reward` adds):
    each rollout's reasoning is checked against the shown `history` (its `flags`) and, when the
    bonus is above 0, the bonus added where it is clean (`grounded`). `likelihood` > 0 (as `train grpo
    --likelihood-reward` adds): each rollout's `target_prob` (`core.train.rewards.target_likelihoods`),
    times `likelihood`, is added to its reward."""
    import torch

    from core.decode.inputs import encode_prompts, model_device, pad_token_id
    from core.train.rewards import parse_answer, prefix_match, score_completion, target_likelihoods

    if not 2 <= int(group_size) <= MAX_GROUP:
        raise SidLensError(f"group size must be between 2 and {MAX_GROUP} (advantages compare the samples of a "
                           f"group), not {group_size}")
    if temperature <= 0:
        raise SidLensError(f"the temperature must be positive to sample a group, not {temperature}")
    if target not in sidmap.codes:
        raise SidLensError(f"target item {target!r} has no SID in {sidmap.dataset}: the reward needs one")
    inputs = encode_prompts(tokenizer, [prompt], model_device(model))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], do_sample=True,
                                 temperature=temperature, top_k=0, top_p=1.0, num_return_sequences=int(group_size),
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_token_id(tokenizer))
    finally:
        model.train(was_training)
    generated = out[:, inputs["input_ids"].shape[1]:]
    texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
    scored = [score_completion(t, target, sidmap) for t in texts]
    checked = [grounded_by.check(t, history or [], target) for t in texts] if grounded_by else [(None, None)] * len(texts)
    bonus = grounded_by.value if grounded_by else 0.0
    grounded = [ok if bonus else None for _, ok in checked]
    probs = (target_likelihoods(model, tokenizer, sidmap, [prompt] * len(texts), generated.tolist(),
                                [target] * len(texts)) if likelihood else [None] * len(texts))
    rewards = [s.reward + (bonus if ok else 0.0) + likelihood * (p or 0.0) for s, ok, p in zip(scored, grounded, probs)]
    rollouts = []
    for text, s, (flags, _), ok, p, reward, advantage in zip(texts, scored, checked, grounded, probs, rewards,
                                                             group_advantages(rewards)):
        codes = parse_answer(text, sidmap.levels)
        levels = prefix_match(codes, sidmap.sid(target)) if codes is not None else 0
        rollouts.append(Rollout(text, text.partition(THINK_END)[0], s.item_id, s.parsed, levels, reward, advantage,
                                ok, flags, p))
    return rollouts


def group_advantages(rewards: list[float]) -> list[float]:
    """(reward - group mean) / (unbiased group std + 1e-4), TRL GRPOTrainer's default (scale_rewards="group")."""
    import statistics

    mean, std = statistics.fmean(rewards), statistics.stdev(rewards)
    return [(r - mean) / (std + 1e-4) for r in rewards]


def agreement(topks: dict[str, list[str]], sidmap: SidMap) -> dict:
    """{"overlap": [{a, b, shared}] for every pair of variants (items both top-k lists hold),
    "common": items in every list, "level1": {variant: level-1 code of its top-1},
    "same_level1": whether all top-1s share it}. `topks` maps a variant to its item ids, best first."""
    from itertools import combinations

    names = list(topks)
    overlap = [{"a": a, "b": b, "shared": len(set(topks[a]) & set(topks[b]))} for a, b in combinations(names, 2)]
    sets = [set(v) for v in topks.values()]
    common = [i for i in (topks[names[0]] if names else []) if all(i in s for s in sets)]
    level1 = {n: sidmap.codes[v[0]][0] for n, v in topks.items() if v and v[0] in sidmap.codes}
    return {"overlap": overlap, "common": common, "level1": level1,
            "same_level1": len(level1) == len(names) and len(set(level1.values())) == 1}
