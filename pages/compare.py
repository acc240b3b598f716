"""Compare variants: metrics side by side, training curves, and a per-user drill-down."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from app import resources, state, traces, ui
from core import variants as V

st.title("Compare variants")
name = state.dataset_name()
db = resources.store()
dataset, sidmap = ui.page_data(name, need_sids=False)
with ui.guarded("Registering shipped checkpoints"):
    resources.register_shipped()

splits = V.splits(db, name) or ["test"]
split = st.selectbox("Split", splits, key="compare_split",
                     help="the split most runs were evaluated on comes first; test@N: the first N test users only")
available = V.runs_with_metrics(db, name, split)
if not available:
    st.info(f"No run of {ui.md(name)} has metrics on {ui.md(split)} yet: evaluate one "
            "(`python -m core eval --run sft`) or run the baselines (`python -m core baselines run`).")
    st.stop()
chosen = st.multiselect("Variants and baselines", available, default=available[:6], key="compare_runs")
if not chosen:
    st.info("Pick at least one run.")
    st.stop()

table = V.metrics_table(db, chosen, split)
st.dataframe(table, hide_index=True)
metric_names = list(dict.fromkeys(k for row in table for k in row if k not in ("run", "stage", "parent")))
shown = st.multiselect("Metrics in the chart", metric_names, default=[m for m in V.HEADLINE if m in metric_names][:5],
                       key="compare_metrics")
if shown:
    long = [{"run": row["run"], "metric": m, "value": row[m]} for row in table for m in shown if row.get(m) is not None]
    st.plotly_chart(px.bar(long, x="metric", y="value", color="run", barmode="group"), key="compare_bars")

st.subheader("Is the difference real?")
if len(chosen) < 2:
    st.caption("Pick two runs to see the paired confidence interval of their difference.")
else:
    left, right = st.columns(2)
    run_a = left.selectbox("Run A", chosen, index=0, key="compare_sig_a")
    run_b = right.selectbox("Run B", [r for r in chosen if r != run_a], index=0, key="compare_sig_b")
    with ui.guarded("Computing confidence intervals"):
        st.dataframe(V.significance(db, run_a, run_b, split), hide_index=True)
        st.caption("Bootstrap 95% CIs (2,000 resamples of the users both runs were evaluated on); the paired CI "
                   "resamples users together, so a difference whose CI spans 0 is within noise.")

st.subheader("Near misses and concentration")
if sidmap is None:
    st.caption("Per-level hits need the SID map: build it with the button in the sidebar.")
else:
    with ui.guarded("Computing per-level hits and exposure"):
        st.dataframe(V.exposure_table(db, chosen, split, dataset, sidmap), hide_index=True, key="compare_exposure")
st.caption("top1_level_1 / top1_levels_1_2 / top1_all_levels: users whose top-1 shares the target's first code, first two "
           "codes, or all (= HR@1). coverage: distinct items in the top-10s / catalogue; gini: 0 when every item is "
           "recommended equally often, towards 1 when a few items are recommended to everybody; popularity_percentile: "
           "mean training-popularity percentile of the recommended items (100 = the most watched).")

ablation = V.k_ablation(db, name, split)
if ablation:
    st.subheader("Softmax-DPO: prompted HR@1 against K")
    figure = px.scatter(ablation, x="K", y="hr@1", text="run", color="kind",
                        error_y=[r["high"] - r["hr@1"] for r in ablation],
                        error_y_minus=[r["hr@1"] - r["low"] for r in ablation])
    st.plotly_chart(figure, key="compare_k_ablation")
    st.caption("Candidate-protocol runs (`train dpo/sdpo --protocol candidates`): K negatives per example (K = 1 is DPO), "
               "20-candidate prompted HR@1 with 95% Wilson intervals over the evaluated users: answer = the item "
               "the model's answer names; likelihood = the listed candidate whose SID is likeliest under the prompt.")

st.subheader("Training curves")
logs = V.curves(db, chosen)
keys = sorted({r["key"] for r in logs})
if not keys:
    st.caption("None of these runs stored training logs (baselines have none).")
else:
    key = st.selectbox("Logged value", keys, index=keys.index("loss") if "loss" in keys else 0, key="compare_curve",
                       help="logp_chosen: the preferred response's own log-prob, which DPO is known to push down and "
                            "S-DPO claims to keep up; compare a dpo and an sdpo run")
    points = [r for r in logs if r["key"] == key]
    st.plotly_chart(px.line(points, x="step", y="value", color="run", labels={"value": key}), key="compare_lines")

st.subheader("Per-user drill-down")
with ui.guarded("Reading per-user results"):
    users = V.per_user(db, chosen, split)
    only = st.toggle("Only users where the runs disagree on the top-1", value=len(chosen) > 1, key="compare_disagree",
                     disabled=len(chosen) < 2)
    pool = [u for u, results in users.items() if not only or V.disagree(results)]
    st.caption(f"{len(pool)} of {len(users)} users with results for every chosen run.")
    if pool:
        user = st.selectbox("User", pool, key="compare_user")
        columns = st.columns(len(chosen))
        for column, run in zip(columns, chosen):
            row = users[user][run]
            with column:
                st.markdown(f"**{ui.md(run)}**: target rank {row['rank'] or 'not in top-10'}")
                trace = V.trace_for(db, run, user, split.split("@")[0])
                if trace:
                    traces.show_trace(trace, dataset, sidmap, history=False)
                else:
                    st.dataframe(traces.topk_rows(row.get("topk") or [], dataset, sidmap), hide_index=True)
        target = users[user][chosen[0]]["target"]
        st.markdown(f"Target of user {ui.md(user)}: {ui.item_markdown(str(target), dataset, sidmap)}")
