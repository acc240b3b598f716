"""RL groups: what GRPO would reward for the current history. A group of completions is sampled
from a reasoning variant at a temperature; each shows its reasoning, answer, reward (SID levels
matched, a real item) and group-normalised advantage: what a GRPO step pushes up or down. The
group can be sent to the labeling queue, where labels on one prompt become DPO pairs."""
from __future__ import annotations

import streamlit as st

from app import resources, state, traces, ui
from core import explain, labels, recommend
from core.errors import SidLensError
from core.histories import user_history
from core.runs import run_setting
from core.train.rewards import VALID_BONUS, GroundedReward, level_reward

st.title("RL groups")
name = state.dataset_name()
GROUP = f"rl_group:{name}"
dataset, sidmap = ui.page_data(name)
variant = ui.active_variant(name)
history = state.history()
st.markdown(f"Variant **{ui.md(variant['name'])}**, history of {len(history)} item(s) from the History builder.")
if not history:
    st.info("The history is empty: add items on the History builder page.")
    st.stop()

user_id = st.session_state.get("history_user_id") or ""
real_next = None
if user_id in dataset.sequences and user_history(dataset, user_id, len(history)) == history:
    from core.data.split import Split

    real_next = Split(dataset).example(user_id, "test").target
items = [real_next] if real_next else []
items += [i for i in dataset.items if i != real_next and i not in history]
target = st.selectbox("Target item (what the reward compares the answer with)", items, key="group_target",
                      format_func=lambda i: ui.item_label(dataset.items.get(i))
                      + (f" (user {user_id}'s real next item)" if i == real_next else ""))
left, middle, right = st.columns(3)
size = left.number_input("Group size", min_value=0, max_value=64, value=8, step=1, key="group_size",
                         help=f"completions sampled for the prompt (2 to {explain.MAX_GROUP})")
temperature = middle.slider("Temperature", 0.1, 1.5, 1.0, 0.1, key="group_temperature",
                            help="GRPO's rollouts sample at 1.0")
seed = right.number_input("Seed", min_value=0, value=0, step=1, key="group_seed")
max_new = st.slider("Max new tokens", 16, 512, 176, key="group_max_tokens",
                    help="GRPO's cpu preset caps completions at 176 tokens; a completion cut before its SID scores 0")
trained_with, needs_level, likelihood_with = 0.0, 0, 0.0
try:  # the bonuses the variant was trained with (a run's config), else 0: the outcome-only reward
    trained = resources.store().run(variant["name"])
    trained_with = float(run_setting(trained, "grounding_reward", 0.0))
    needs_level = int(run_setting(trained, "grounding_needs_level", 0))
    likelihood_with = float(run_setting(trained, "likelihood_reward", 0.0))
except (SidLensError, TypeError, ValueError):
    pass
left, right = st.columns(2)
bonus = left.number_input("Grounding bonus", min_value=0.0, max_value=1.0, value=trained_with, step=0.05,
                          key="group_grounding",
                          help="added to a completion whose reasoning raises no faithfulness flag and whose conclusion "
                               "agrees with its answer (train grpo --grounding-reward; the cpu preset uses 0.2; 0 = "
                               "the outcome-only reward). Default: what this variant was trained with.")
likelihood = right.number_input("Likelihood reward", min_value=0.0, max_value=5.0, value=likelihood_with, step=0.1,
                                key="group_likelihood",
                                help="this x the model's mean token probability of the target's SID right after the "
                                     "completion's reasoning is added (train grpo --likelihood-reward; 0 = off). "
                                     "Default: what this variant was trained with.")

if st.button("Sample the group", type="primary", key="sample_group"):
    st.session_state.pop(GROUP, None)
    with ui.guarded("Sampling the group"):
        model, tokenizer, meta, _ = resources.model(variant, name)
        if not meta.get("think"):
            st.warning(f"{ui.md(variant['name'])} answers without reasoning; GRPO starts from a reasoning variant "
                       "(reason or grpo), so its group shows answers only.")
        prompt, notes = recommend.prompt_for(tokenizer, meta, sidmap, dataset, history)
        for note in notes:
            st.info(note)
        with st.spinner(f"Sampling {size} completions..."):
            grounded_by = GroundedReward(resources.faithfulness(name), float(bonus), needs_level)  # also the shown flags
            group = explain.sample_group(model, tokenizer, prompt, sidmap, target, int(size), temperature,
                                         max_new, int(seed), grounded_by=grounded_by, history=history,
                                         likelihood=float(likelihood))
        st.session_state[GROUP] = {"variant": variant["name"], "history": history, "prompt": prompt,
                                   "target": target, "group": group, "likelihood": float(likelihood)}

result = st.session_state.get(GROUP)
if result:
    group = result["group"]
    rewards = [g.reward for g in group]
    cols = st.columns(3)
    cols[0].metric("Mean reward", f"{sum(rewards) / len(rewards):.3f}")
    cols[1].metric("Answers that parse", f"{sum(g.parsed for g in group)}/{len(group)}")
    cols[2].metric("Distinct rewards", len(set(rewards)),
                   help="1 means every completion scored the same: the group gives GRPO no signal")
    if len(set(rewards)) == 1:
        st.warning("Every completion got the same reward: all advantages are 0 and GRPO learns nothing from "
                   "this prompt.")
    st.caption(f"Reward = {level_reward(1, sidmap.levels)} / {level_reward(2, sidmap.levels)} / 1.0 for the "
               f"first 1 / 2 / all SID levels of the target matched, + {VALID_BONUS} for a real item, 0 when no SID "
               "follows </think>; + the grounding bonus when set and the reasoning is clean; + the likelihood "
               "reward x the target's SID probability after the reasoning when set. "
               "Advantage = (reward - group mean) / (group std + 1e-4), as TRL computes it.")
    st.dataframe([{"#": n, "answer": ui.item_label(dataset.items.get(g.answer_item)) if g.answer_item else
                   ("(not an item)" if g.parsed else "(no SID after </think>)"), "levels matched": g.levels,
                   "real item": bool(g.answer_item),
                   **({} if g.grounded is None else {"grounded": g.grounded}),
                   **({} if not result.get("likelihood") else {"target prob": None if g.target_prob is None
                                                 else round(g.target_prob, 4)}),
                   "reward": round(g.reward, 3), "advantage": round(g.advantage, 3)}
                  for n, g in enumerate(group, start=1)], hide_index=True, key="group_table")
    for n, g in enumerate(sorted(group, key=lambda g: -g.advantage), start=1):
        with st.expander(f"advantage {g.advantage:+.2f} · reward {g.reward:.2f} · "
                         f"{ui.item_label(dataset.items.get(g.answer_item)) if g.answer_item else 'no item'}"):
            st.markdown(traces.reasoning_markdown(g.completion, dataset, sidmap) if g.completion.strip()
                        else "(nothing generated)")
            traces.show_flags(g.flags)
    if st.button(f"Send the group to labeling ({len(group)} traces)", key="send_group"):
        with ui.guarded("Sending the group"):
            ids = labels.send_group(resources.store(), run=result["variant"], history=result["history"],
                                    prompt=result["prompt"], completions=[g.completion for g in group],
                                    answers=[g.answer_item for g in group],
                                    flags=[g.flags for g in group], sidmap=sidmap,
                                    user_id=user_id)
            st.success(f"Queued {len(ids)} traces of one prompt: labels on them become preference pairs "
                       "(Label page, export pairs).")
