"""Human labels of reasoning quality: the queue, saving, agreement, and exports.

A label belongs to one trace and one annotator (`labels(trace_id, annotator)` in the store): a
quality score 1-5, four yes/no flags (`LABEL_FLAGS`) and a free note. Saving is an upsert that
commits at once (the store runs in WAL mode), so a label shown as saved survives a killed server,
and two annotators labeling at the same time never overwrite each other (different keys).

Exports:
- labels as JSONL or CSV (one row per label, flags as columns in the CSV);
- Cohen's kappa between two annotators on the traces both labeled (quality, plain and
  quadratic-weighted, and each flag), via scikit-learn;
- preference pairs for DPO, the format `python -m core train dpo --pairs FILE` reads
  (`load_pairs` validates it). One JSON object per line:

      {"prompt": str, "chosen": str, "rejected": str,
       "chosen_trace": str, "rejected_trace": str, "margin": float}

  `prompt` is the trace's stored prompt (the rendered chat prompt); `chosen`/`rejected` are two
  completions for that same prompt, each the trace's reasoning text followed by its top-1 SID
  when the reasoning does not already end with one (so the completion is exactly what the model
  would emit). A pair is made for every two traces of one prompt whose mean quality (over
  annotators) differs; `margin` is that difference. Only `prompt`, `chosen` and `rejected` are
  required by readers; the other keys say where the pair came from.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from itertools import combinations
from pathlib import Path
from typing import Iterable

from core.errors import SidLensError
from core.llm.prompts import THINK_END
from core.sid.sidmap import TOKEN_RE
from core.store import Store, now

LABEL_FLAGS = {
    "faithful": "faithful to the history",
    "hallucinated": "mentions an item that does not exist",
    "sound_logic": "sound logic",
    "useful": "useful explanation",
}
PAIR_KEYS = ("prompt", "chosen", "rejected")


def trace_id(run: str, history: Iterable[str], reasoning: str) -> str:
    """A stable id for a trace made in the app: the same run, history and text give the same id."""
    raw = json.dumps([run, list(history), reasoning], ensure_ascii=False)
    return "app-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def send_to_queue(store: Store, *, run: str, history: list[str], prompt: str, reasoning: str,
                  topk: list[dict], flags: dict, user_id: str = "") -> str:
    """Store a trace produced in the app (source "app") so it appears in the label queue; its id."""
    tid = trace_id(run, history, reasoning)
    store.upsert("traces", {"id": tid, "run": run, "split": "app", "user_id": user_id, "history": history,
                            "prompt": prompt, "reasoning": reasoning, "topk": topk, "target": "",
                            "target_rank": None, "flags": flags, "source": "app", "created": now()})
    return tid


def send_group(store: Store, *, run: str, history: list[str], prompt: str, completions: list[str],
               answers: list[str | None], flags: list[dict], sidmap=None, user_id: str = "") -> list[str]:
    """Queue every completion of one sampled group (the RL groups page) as a trace of the same
    prompt, so labels on them become preference pairs; their ids. A completion's reasoning is its
    whole text (answer SID included), its top-1 the item it answered (none when it named no item)."""
    if not (len(completions) == len(answers) == len(flags)) or not completions:
        raise SidLensError("a group needs one answer and one set of flags per completion, and at least one")
    ids = []
    for text, answer, flag in zip(completions, answers, flags):
        topk = [{"item_id": answer, "sid": sidmap.sid_text(answer) if sidmap is not None else ""}] if answer else []
        ids.append(send_to_queue(store, run=run, history=history, prompt=prompt, reasoning=text, topk=topk,
                                 flags=flag, user_id=user_id))
    return list(dict.fromkeys(ids))


def trace_runs(store: Store) -> list[str]:
    """Runs that have traces (evaluated variants, and variants used on the Reasoning page)."""
    return [r[0] for r in store.db.execute("select distinct run from traces where run != '' order by run")]


def queue(store: Store, runs: list[str] | None = None, with_direct: bool = False) -> list[dict]:
    """Traces of `runs` (all when None) to label: those sent from the app first, newest first, then
    the stored traces of evaluations. Only traces with reasoning unless `with_direct` (the traces of
    direct-answer variants hold a top-10 and nothing to judge as reasoning)."""
    where, params = (f"run in ({', '.join('?' * len(runs))})", list(runs)) if runs is not None else (None, [])
    rows = store.rows("traces", where, params, order_by="created desc, id")
    if not with_direct:
        rows = [r for r in rows if (r.get("reasoning") or "").strip()]
    return sorted(rows, key=lambda r: r.get("source") != "app")


def save_label(store: Store, trace_id: str, annotator: str, quality: int, flags: dict[str, bool],
               note: str = "") -> dict:
    """Validate and upsert one label (committed on return); the stored row."""
    annotator = (annotator or "").strip()
    if not annotator:
        raise SidLensError("annotator name is empty: type your name before labeling")
    if not 1 <= int(quality) <= 5:
        raise SidLensError(f"quality must be between 1 and 5, not {quality}")
    unknown = set(flags) - set(LABEL_FLAGS)
    if unknown:
        raise SidLensError(f"unknown label flags: {', '.join(sorted(unknown))}")
    if store.get("traces", trace_id) is None:
        raise SidLensError(f"unknown trace {trace_id!r}")
    row = {"trace_id": trace_id, "annotator": annotator, "quality": int(quality),
           "flags": {k: bool(flags.get(k, False)) for k in LABEL_FLAGS}, "note": note or "", "updated": now()}
    store.upsert("labels", row)
    return row


def labels(store: Store, annotator: str | None = None) -> list[dict]:
    where, params = ("annotator = ?", [annotator]) if annotator else (None, [])
    return store.rows("labels", where, params, order_by="trace_id, annotator")


def export_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def export_csv(rows: list[dict]) -> str:
    """Labels as CSV: trace_id, annotator, quality, one column per flag, note, updated."""
    out = io.StringIO()
    writer = csv.DictWriter(out, ["trace_id", "annotator", "quality", *LABEL_FLAGS, "note", "updated"])
    writer.writeheader()
    for r in rows:
        flags = r.get("flags") or {}
        writer.writerow({"trace_id": r["trace_id"], "annotator": r["annotator"], "quality": r["quality"],
                         **{k: int(bool(flags.get(k))) for k in LABEL_FLAGS}, "note": r.get("note") or "",
                         "updated": r.get("updated") or ""})
    return out.getvalue()


def annotators(store: Store) -> list[str]:
    return sorted({r["annotator"] for r in store.rows("labels")})


def kappa(store: Store, first: str, second: str) -> dict:
    """Cohen's kappa of two annotators on their shared traces: quality (plain and quadratic-weighted)
    and each flag. A value is None where it is undefined (both gave one constant answer)."""
    from sklearn.metrics import cohen_kappa_score

    a = {r["trace_id"]: r for r in labels(store, first)}
    b = {r["trace_id"]: r for r in labels(store, second)}
    shared = sorted(a.keys() & b.keys())
    if not shared:
        raise SidLensError(f"annotators {first!r} and {second!r} have labeled no trace in common")

    def score(x: list, y: list, **kw) -> float | None:
        if len(set(x) | set(y)) < 2:
            return None  # kappa is 0/0 when every answer is the same value
        return float(cohen_kappa_score(x, y, labels=sorted(set(x) | set(y)), **kw))

    qa, qb = [a[t]["quality"] for t in shared], [b[t]["quality"] for t in shared]
    out = {"traces": len(shared), "quality": score(qa, qb),
           "quality_weighted": score(qa, qb, weights="quadratic"),
           "agreement": sum(x == y for x, y in zip(qa, qb)) / len(shared)}
    for flag in LABEL_FLAGS:
        out[flag] = score([bool((a[t]["flags"] or {}).get(flag)) for t in shared],
                          [bool((b[t]["flags"] or {}).get(flag)) for t in shared])
    return out


def completion(trace: dict) -> str:
    """What the model emitted for a trace: its reasoning, then its top-1 SID unless already there."""
    text = (trace.get("reasoning") or "").strip()
    topk = trace.get("topk") or []
    sid = topk[0].get("sid", "") if topk and isinstance(topk[0], dict) else ""
    tail = text.rsplit(THINK_END, 1)[-1]
    if sid and not TOKEN_RE.search(tail):
        text = f"{text}{sid}" if text.endswith(THINK_END) or not text else f"{text}\n{sid}"
    return text


def _labels_by_prompt(store: Store) -> dict[str, list[tuple[dict, list[int]]]]:
    """{prompt: [(trace, its label qualities), ...]} over the labeled traces that have a prompt: the
    one grouping behind the pairs and the pairable count."""
    by_trace: dict[str, list[int]] = {}
    for r in store.rows("labels"):
        by_trace.setdefault(r["trace_id"], []).append(r["quality"])
    groups: dict[str, list[tuple[dict, list[int]]]] = {}
    for tid, qualities in by_trace.items():
        trace = store.get("traces", tid)
        if trace and trace.get("prompt"):
            groups.setdefault(trace["prompt"], []).append((trace, qualities))
    return groups


def preference_pairs(store: Store) -> list[dict]:
    """DPO pairs from labeled traces that share a prompt (see the module docstring for the format)."""
    pairs = []
    for prompt, labelled in _labels_by_prompt(store).items():
        scored = sorted(((sum(q) / len(q), t) for t, q in labelled), key=lambda s: (-s[0], s[1]["id"]))
        for (qa, ta), (qb, tb) in combinations(scored, 2):
            if qa > qb and completion(ta) != completion(tb):
                pairs.append({"prompt": prompt, "chosen": completion(ta), "rejected": completion(tb),
                              "chosen_trace": ta["id"], "rejected_trace": tb["id"], "margin": qa - qb})
    return pairs


def pairable_labels(store: Store) -> int:
    """Labels on traces whose prompt has another labeled trace: the ones that can become preference
    pairs (a pair is made once their mean qualities differ)."""
    return sum(len(q) for labelled in _labels_by_prompt(store).values() if len(labelled) > 1 for _, q in labelled)


def load_pairs(path: str | Path) -> list[dict]:
    """Read a preference-pair JSONL file, checking every line has non-empty prompt/chosen/rejected."""
    path = Path(path)
    if not path.is_file():
        raise SidLensError(f"no preference pairs file at {path}")
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise SidLensError(f"malformed JSON in {path} line {lineno}") from None
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) and row[k] for k in PAIR_KEYS):
                raise SidLensError(f"{path} line {lineno}: a pair needs non-empty strings {', '.join(PAIR_KEYS)}")
            pairs.append(row)
    if not pairs:
        raise SidLensError(f"{path} holds no preference pairs")
    return pairs
