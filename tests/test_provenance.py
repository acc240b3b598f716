"""The recorded commit is the one a process started with, read from a real git repository."""
from __future__ import annotations

import subprocess

import core.provenance as provenance


def _git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_stays_the_one_the_process_started_with(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    for name in ("first", "second"):
        (tmp_path / name).write_text(name)
        _git(tmp_path, "add", name)
        _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", name)
        if name == "first":
            first = _git(tmp_path, "rev-parse", "--short", "HEAD")
            monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
            provenance.git_commit.cache_clear()
            assert provenance.git_commit() == first
    assert provenance.git_commit() == first  # the tree moved on; the record does not
    provenance.git_commit.cache_clear()
    assert provenance.git_commit() == _git(tmp_path, "rev-parse", "--short", "HEAD") != first
    provenance.git_commit.cache_clear()


def test_outside_a_checkout_it_is_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    provenance.git_commit.cache_clear()
    assert provenance.git_commit() == ""
    provenance.git_commit.cache_clear()
