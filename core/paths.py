"""Where artefacts live.

Everything built or downloaded goes under one data directory (default `<repo>/data`, override
with the SIDLENS_DATA_DIR environment variable or `--data-dir`), so a clean clone, CI and tests
can each point at their own; downloads and converted weights go to a shared cache (`cache_dir`).
The database defaults to `<data dir>/sidlens.db` (SIDLENS_DB).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The data directory, created on first use."""
    path = Path(os.environ.get("SIDLENS_DATA_DIR", REPO_ROOT / "data")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Downloaded raw files and converted model weights: expensive to rebuild and shared by every
    data directory (tests use a temporary data dir but reuse this cache). SIDLENS_CACHE_DIR overrides."""
    path = Path(os.environ.get("SIDLENS_CACHE_DIR", REPO_ROOT / "data" / "cache")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    """The SQLite database file."""
    env = os.environ.get("SIDLENS_DB")
    return Path(env).expanduser() if env else data_dir() / "sidlens.db"


def dataset_dir(name: str) -> Path:
    """Prepared files of one dataset (items, users, interactions, embeddings, SID maps)."""
    path = data_dir() / "datasets" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoints_dir() -> Path:
    """Committed small adapters live in `<repo>/data/checkpoints/<run>/` by default."""
    env = os.environ.get("SIDLENS_CHECKPOINTS")
    return Path(env).expanduser() if env else REPO_ROOT / "data" / "checkpoints"
