"""Build a dataset's SID map: embed items -> train a tokenizer -> codes -> unique SIDs -> save.

`python -m core sids build --dataset ml-100k [--method rqvae|rqkmeans]`

Shipped maps: the SID map the shipped checkpoints were trained with is committed under
`data/sidmaps/<dataset>.json` (`python -m core sids ship --dataset ml-100k` copies the current map
there). `load_sidmap` installs it when the dataset has no map yet, so a clean clone evaluates the
shipped checkpoints without rebuilding: a rebuild on another CPU could round an embedding
differently, move an item, change the hash, and rightly make every checkpoint refuse to load.

The map goes to `<dataset dir>/sids.json` (atomically) and into the store (`sids` rows per item,
one `sid_maps` row with method, hash and statistics); re-building replaces both, and items that
left the dataset lose their rows. Every later stage reads the map through `load_sidmap`.

Default tokenizer: RQ-VAE. Measured on ml-100k (K = 32, 3 levels, seed 0) it spread items evenly
over every level (perplexities 29.1 / 29.9 / 31.2 of 32, against RQ-KMeans' 28.6 / 25.0 / 22.3:
residual k-means piles the deep levels onto a few codes) and had a lower collision rate (7.9% vs
13.0%) at a similar reconstruction error (0.337 vs 0.329). It costs ~10 s of CPU training (45 s
on a loaded 2-core machine) where RQ-KMeans needs a few seconds.

The tokenizers, the embedder and the statistics (torch, scikit-learn, scipy) are imported inside
the functions that build a map, so reading a map (`load_sidmap`, the app's first page) does not pay
their import time (`python -X importtime -c "import core.sid.build"` shows it).
"""
from __future__ import annotations

import math
import time
from dataclasses import fields, replace

from core.atomic import write_text
from core.data.schema import Dataset
from core.errors import SidLensError
from core.paths import REPO_ROOT, dataset_dir
from core.sid.sidmap import LEVEL_LETTERS, SidMap
from core.store import Store, now

METHODS = ("rqvae", "rqkmeans")
DEFAULT_METHOD = "rqvae"
SIDS_FILE = "sids.json"
SHIPPED_DIR = REPO_ROOT / "data" / "sidmaps"


def sidmap_path(dataset_name: str):
    return dataset_dir(dataset_name) / SIDS_FILE


def default_codebook_size(n_items: int) -> int:
    """The power of two nearest sqrt(n_items), within [8, 256] and at most n_items.

    ml-100k (1,682 items) gets 32, the size measured best there (see `RQKMeansConfig`); an Amazon
    category of ~12k items gets 128, near the 256 TIGER and MiniOneRec use for such catalogues.
    K^2 ~ n_items keeps about one item per two-level prefix, so the last level separates the rest.
    """
    return int(min(n_items, max(8, min(256, 2 ** round(math.log2(max(n_items, 1)) / 2)))))


def tokenizer_config(method: str, levels: int, codebook_size: int, seed: int, options: dict | None = None):
    """The config of `method`'s tokenizer; `options` override other config fields (e.g. epochs)."""
    from core.sid.rqkmeans import RQKMeansConfig
    from core.sid.rqvae import RQVAEConfig

    if method not in METHODS:
        raise SidLensError(f"unknown SID method {method!r} (choose from {', '.join(METHODS)})")
    config_cls = RQVAEConfig if method == "rqvae" else RQKMeansConfig
    unknown = sorted(set(options or {}) - {f.name for f in fields(config_cls)})
    if unknown:
        raise SidLensError(f"unknown {method} option(s): {', '.join(unknown)}")
    return replace(config_cls(), **{**(options or {}), "levels": levels, "seed": seed, "codebook_size": codebook_size})


def build_sids(dataset_name: str, method: str = DEFAULT_METHOD, levels: int = 3, codebook_size: int | None = None,
               seed: int = 0, encoder: str = "minilm", collisions: str = "reassign", *, lm=None,
               dataset: Dataset | None = None, store: Store | None = None, options: dict | None = None) -> SidMap:
    """Build, save and record the SID map of `dataset_name` (see the module docstring).

    `codebook_size` defaults to `default_codebook_size(items)`; `lm` is the encoder of encoder="lm"
    (a `core.llm.embed.LmEncoder`, see `item_embeddings`); `dataset` skips loading it by name;
    `options` are extra tokenizer config fields.
    """
    from core.sid.collisions import METHODS as COLLISION_METHODS
    from core.sid.collisions import resolve
    from core.sid.embed import item_embeddings
    from core.sid.rqkmeans import RQKMeans
    from core.sid.rqvae import RQVAE
    from core.sid.stats import codebook_stats

    if not 1 <= levels < len(LEVEL_LETTERS):
        raise SidLensError(f"levels must be between 1 and {len(LEVEL_LETTERS) - 1}, not {levels}")
    if collisions not in COLLISION_METHODS:
        raise SidLensError(f"unknown collision method {collisions!r} (choose from {', '.join(COLLISION_METHODS)})")
    if dataset is None:
        from core.data.registry import load_dataset

        dataset = load_dataset(dataset_name, store)
    config = tokenizer_config(method, levels, codebook_size or default_codebook_size(len(dataset.items)), seed, options)
    size = config.codebook_size
    if not 2 <= size <= len(dataset.items):
        raise SidLensError(f"codebook size must be between 2 and the {len(dataset.items)} items of {dataset_name}, "
                           f"not {size}")
    started = time.perf_counter()
    x = item_embeddings(dataset, encoder, lm=lm)
    embedded = time.perf_counter()
    tokenizer = RQVAE(x.shape[1], config) if method == "rqvae" else RQKMeans(config)
    tokenizer.fit(x)
    codes = tokenizer.encode(x)
    resolved, report = resolve(codes, collisions, tokenizer.last_level_distances(x), size)
    trained = time.perf_counter()
    sizes = [size] * levels + ([report["extra_level_size"]] if report["levels"] > levels else [])
    stats = codebook_stats(resolved, sizes)
    stats.pop("collision_rate")
    stats.update(
        dataset=dataset_name, method=method, encoder=encoder, collision_rate_before=report["collision_rate_before"],
        collision_rate_after=report["collision_rate_after"], collisions=report,
        reconstruction_error=float(((x - tokenizer.decode(resolved[:, :levels])) ** 2).sum(1).mean()),
        tokenizer=tokenizer.state(),
        seconds={"embeddings": round(embedded - started, 2), "tokenizer": round(trained - embedded, 2)})
    sidmap = SidMap(dataset_name, method, sizes, dict(zip(dataset.items, map(tuple, resolved.tolist()))), stats)
    path = sidmap.save(sidmap_path(dataset_name))
    record_in_store(sidmap, str(path), store or Store())
    return sidmap


def record_in_store(sidmap: SidMap, path: str, store: Store) -> None:
    """Upsert every item's SID and the map's row; drop rows of items no longer in the map."""
    name = sidmap.dataset
    store.upsert("sids", [{"dataset": name, "item_id": item, "sid": sidmap.sid_text(item), "codes": list(codes)}
                          for item, codes in sidmap.codes.items()])
    for row in store.rows("sids", "dataset = ?", [name]):
        if row["item_id"] not in sidmap.codes:
            store.delete_where("sids", "dataset = ? and item_id = ?", [name, row["item_id"]])
    store.upsert("sid_maps", {"dataset": name, "method": sidmap.method, "hash": sidmap.hash, "path": path,
                              "stats": sidmap.stats, "updated": now()})


def shipped_path(dataset_name: str):
    return SHIPPED_DIR / f"{dataset_name}.json"


def load_sidmap(dataset_name: str, store: Store | None = None) -> SidMap:
    """The saved SID map of `dataset_name`, installing the shipped one (recorded in `store`) if none
    was built yet; a one-line error when there is neither."""
    path = sidmap_path(dataset_name)
    if not path.exists() and shipped_path(dataset_name).exists():
        return install_shipped(dataset_name, store)
    if not path.exists():
        raise SidLensError(f"no SIDs built for dataset {dataset_name!r}: run python -m core sids build "
                           f"--dataset {dataset_name}")
    return SidMap.load(path)


def ensure_sidmap(dataset_name: str, store: Store | None = None, **build_options) -> SidMap:
    """The dataset's SID map: the one built before, else the shipped one installed (so the shipped
    checkpoints, trained on it, stay usable), else a new one built with `build_options`. The one
    path for `sids build --if-missing` and the app's pipeline."""
    if sidmap_path(dataset_name).exists():
        return SidMap.load(sidmap_path(dataset_name))
    if shipped_path(dataset_name).exists():
        return install_shipped(dataset_name, store)
    return build_sids(dataset_name, store=store, **build_options)


def install_shipped(dataset_name: str, store: Store | None = None) -> SidMap:
    """Make the committed map of `dataset_name` the dataset's current map (file and store rows)."""
    sidmap = SidMap.load(shipped_path(dataset_name))
    path = write_text(sidmap_path(dataset_name), shipped_path(dataset_name).read_text())
    record_in_store(sidmap, str(path), store or Store())
    return sidmap


def ship_sidmap(dataset_name: str) -> SidMap:
    """Copy the dataset's current map to `data/sidmaps/` (to commit beside shipped checkpoints)."""
    sidmap = load_sidmap(dataset_name)
    write_text(shipped_path(dataset_name), sidmap_path(dataset_name).read_text())
    return sidmap

