"""What a constrained search returns, shared by the trie search and its HF reference."""
from __future__ import annotations

from dataclasses import dataclass

from core.decode.trie import SidTrie
from core.errors import SidLensError


@dataclass
class Recommendation:
    item_id: str
    sid: str                  # the SID as text, e.g. "<a_12><b_3><c_45>"
    score: float              # sum of per-level log-probs (full-vocabulary softmax)
    level_probs: list[float]  # each level's token probability given the prompt and the earlier levels


@dataclass
class BeamNode:
    """One kept beam at one level, for drawing the search tree (its parent is codes[:-1])."""
    codes: tuple[int, ...]
    prob: float   # this level's conditional token probability
    score: float  # cumulative log-prob of the prefix


def check_request(trie: SidTrie, prompts, k: int, num_beams: int | None, exclude) -> int:
    """Validate the arguments both search paths share; returns the beam width (default max(k, 10))."""
    num_beams = max(k, 10) if num_beams is None else num_beams
    if k < 1 or num_beams < k:
        raise SidLensError(f"need 1 <= k <= num_beams, got k={k}, num_beams={num_beams}")
    if exclude is not None and len(exclude) != len(prompts):
        raise SidLensError(f"exclude has {len(exclude)} entries for {len(prompts)} prompts")
    return num_beams


def recommendation(trie: SidTrie, path, score: float, level_probs: list[float]) -> Recommendation:
    """A finished beam (token-id path) as a Recommendation."""
    return Recommendation(trie.item_for(path), trie.sidmap.sid_text(trie.item_for(path)), float(score), level_probs)
