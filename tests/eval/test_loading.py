"""Loading a run for evaluation (`core.eval.loading`) from a committed tiny checkpoint folder."""
from __future__ import annotations

import pytest

from core.errors import SidLensError


def test_load_for_eval_registers_the_folder_and_renders_its_prompts(checkpoint):
    from core.eval.candidates import sample_candidates
    from core.eval.loading import load_for_eval, render_prompts

    loaded = load_for_eval("tiny", "fp32")
    assert loaded.folder == checkpoint and loaded.precision == "fp32"
    assert loaded.row["name"] == "tiny" and loaded.meta["run"] == "tiny"
    split = loaded.split
    examples = split.examples("test")[:3]
    plain = loaded.prompts(examples)
    assert plain == render_prompts(loaded.tokenizer, loaded.sidmap, loaded.dataset, examples, loaded.meta)
    lists = [sample_candidates(split, ex.user_id, part="test") for ex in examples]
    listed = loaded.prompts(examples, lists)
    for prompt, with_list, cands in zip(plain, listed, lists, strict=True):
        sids = [loaded.sidmap.sid_text(item) for item in cands]
        assert all(sid in with_list for sid in sids) and not all(sid in prompt for sid in sids)


def test_unknown_run_names_it(checkpoint):
    from core.eval.loading import load_for_eval

    with pytest.raises(SidLensError, match="nope"):
        load_for_eval("nope")
