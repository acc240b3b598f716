"""SFT on the tiny model over the toy world: loss falls, LoRA and SID rows move, the adapter and
its card are saved, the loss curve is in the store, an interrupted run resumes, and the loss the
trainer optimises equals TRL's own completion-only loss."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from core.cli import main
from core.corpus.build import build_corpus
from core.errors import SidLensError
from core.llm.backbone import load_base
from core.llm.sid_tokens import add_sid_tokens
from core.store import Store
from core.train.sft import _trainer_class, _trainer_config, settings_for, train_sft

TOY = "amazon-toy"


@pytest.fixture
def world(toy_world, tmp_path):
    build_corpus(TOY, max_examples=64, dataset=toy_world.dataset, sidmap=toy_world.sidmap, progress=False)
    toy_world.base = str(tmp_path / "tiny-base")
    return toy_world


def tiny_settings(world, **overrides):
    values = dict(dataset=TOY, base_model=world.base, run="tiny", tasks=(1, 2), max_examples=64, max_steps=16,
                  batch_size=4, learning_rate=2e-2, warmup_steps=0, logging_steps=1, save_steps=8, max_minutes=0.0,
                  lora_r=4, lora_alpha=8)
    return settings_for("quick", **{**values, **overrides})


def test_sft_trains_and_records(world):
    store = Store()
    record = train_sft(tiny_settings(world), store)
    losses = [r["value"] for r in store.rows("run_logs", "run = 'tiny' and key = 'loss'", order_by="step")]
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.5
    assert record["loss_first"] == losses[0] and record["loss_last"] == losses[-1]
    ckpt = world.checkpoints / "tiny"
    for name in ("adapter_model.safetensors", "sidlens.json", "run.json", "README.md"):
        assert (ckpt / name).is_file(), name
    assert 0 < record["adapter_mb"] < 5  # no 49k-row embedding copy
    weights = load_file(ckpt / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().max() > 0 for k, v in weights.items())  # LoRA B starts at zero
    run = store.run("tiny")
    assert run["status"] == "done" and run["stage"] == "sft" and run["checkpoint"].endswith("tiny")
    assert json.loads((ckpt / "run.json").read_text())["command"] in (ckpt / "README.md").read_text()
    assert record["machine"] and f"| machine | {record['machine']} |" in (ckpt / "README.md").read_text()

    # the SID rows moved away from their initialisation (the same one training started from)
    from core.llm.adapter import load_checkpoint
    trained, tokenizer, _ = load_checkpoint(ckpt, world.sidmap)
    base, base_tok = load_base(world.base)
    ids = add_sid_tokens(base, base_tok, world.sidmap, item_texts={i: x.text() for i, x in world.dataset.items.items()})
    before = base.get_input_embeddings().weight[ids]
    after = trained.get_input_embeddings().weight[ids]
    assert (after - before).abs().max() > 1e-3
    other = torch.tensor([0, 100, 1000])
    assert torch.equal(trained.get_input_embeddings().weight[other], base.get_input_embeddings().weight[other])


def test_interrupted_run_resumes(world):
    store = Store()
    first = train_sft(tiny_settings(world, max_steps=4, save_steps=100, max_minutes=1e-6), store)
    assert first["stopped_early"] and first["steps"] == 1
    second = train_sft(tiny_settings(world, max_steps=4, save_steps=100), store)
    assert second["resumed_from"].endswith("checkpoint-1") and second["steps"] == 4
    steps = [r["step"] for r in store.rows("run_logs", "run = 'tiny' and key = 'loss'", order_by="step")]
    assert steps == [1, 2, 3, 4]  # the first process's log survives the resume
    extended = train_sft(tiny_settings(world, max_steps=6, save_steps=100), store)  # a larger budget extends it
    assert extended["resumed_from"].endswith("checkpoint-4") and extended["steps"] == 6
    with pytest.raises(SidLensError, match="other settings.*learning_rate"):
        train_sft(tiny_settings(world, max_steps=4, learning_rate=1e-3), store)
    fresh = train_sft(tiny_settings(world, max_steps=2, restart=True), store)
    assert fresh["resumed_from"] is None and fresh["steps"] == 2


def test_loss_equals_trl_completion_loss(world):
    """The logits-only-where-trained loss is TRL's completion-only loss, not an approximation."""
    import datasets
    from trl import SFTTrainer

    from core.llm.adapter import LoraSettings, attach_lora
    from core.train.sft import load_records
    from core.train.sft_data import build_rows

    settings = tiny_settings(world)
    model, tokenizer = load_base(world.base)
    sid_ids = add_sid_tokens(model, tokenizer, world.sidmap)
    model = attach_lora(model, sid_ids, LoraSettings(r=4))
    data = datasets.Dataset.from_list(build_rows(tokenizer, load_records(settings, world.sidmap)[:8], [],
                                                 frozenset(sid_ids)))
    ours = _trainer_class()(model=model, args=_trainer_config(settings, "cpu"), train_dataset=data,
                            processing_class=tokenizer)
    theirs = SFTTrainer(model=model, args=_trainer_config(settings, "cpu"), train_dataset=data,
                        processing_class=tokenizer)
    batch = next(iter(ours.get_train_dataloader()))
    with torch.no_grad():
        assert float(ours.compute_loss(model, dict(batch))) == pytest.approx(float(theirs.compute_loss(model, dict(batch))),
                                                                              rel=1e-5)


def test_continues_an_adapter_with_catalogue_facts(world):
    """--init-from trains the parent's adapter on (records and packed facts); the card keeps both commands."""
    store = Store()
    parent = load_file(world.sft / "adapter_model.safetensors")
    record = train_sft(tiny_settings(world, init_from="sft", run="sft2", item_facts_epochs=2.0, facts_per_row=5,
                                     max_steps=4, dtype="fp32"), store)
    assert record["fact_rows"] == (2 * 40 + 2 * 40 + 20) // 5  # 40 items: titles and SIDs twice, genres half
    assert record["steps"] == 4 and record["precision"] == "fp32"
    assert [step["run"] for step in record["continues"]] == ["sft"]
    child = load_file(world.checkpoints / "sft2" / "adapter_model.safetensors")
    assert set(child) == set(parent)  # the parent's LoRA rank and SID rows, trained on
    assert any(not torch.equal(child[k].float(), parent[k].float()) for k in parent)
    with pytest.raises(SidLensError, match="cannot be combined"):
        tiny_settings(world, init_from="sft", full_finetune=True)


def test_cli_reports_bad_input(world, capsys):
    assert main(["train", "sft", "--dataset", "nope", "--preset", "quick"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    with pytest.raises(SidLensError, match="unknown preset"):
        settings_for("huge")


def test_task_examples_give_a_task_its_own_count(world):
    """--task-examples: a task takes its first N records, the others share --max-examples, in corpus order."""
    from core.corpus.build import read_corpus
    from core.train.sft import load_records

    corpus = [r for r in read_corpus(TOY, sid_map_hash=world.sidmap.hash) if r["task"] in (1, 2)]
    records = load_records(tiny_settings(world, max_examples=5, task_examples="2=3"), world.sidmap)
    expected = [r for r in corpus if r["task"] == 1][:5] + [r for r in corpus if r["task"] == 2][:3]
    key = lambda r: (r["prompt"][-1]["content"], r["completion"][0]["content"])  # noqa: E731
    assert sorted(map(key, records)) == sorted(map(key, expected))
    assert [key(r) for r in records] == [key(r) for r in corpus if key(r) in set(map(key, expected))]  # corpus order
    for bad, message in (("2=many", "bad --task-examples entry"), ("7=3", "not in --tasks"), ("2=-1", ">= 0")):
        with pytest.raises(SidLensError, match=message):
            tiny_settings(world, task_examples=bad)
