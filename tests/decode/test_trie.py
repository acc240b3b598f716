from __future__ import annotations

import pytest

from core.decode.trie import SidTrie
from core.errors import SidLensError
from core.sid.sidmap import SidMap, token


def brute_force_allowed(trie: SidTrie, sidmap: SidMap, prefix_codes: tuple, excluded=frozenset()) -> set[int]:
    level = len(prefix_codes)
    return {trie.token_ids[level][codes[level]] for item, codes in sidmap.codes.items()
            if codes[:level] == prefix_codes and item not in excluded}


def test_allows_exactly_the_continuations_of_real_items(toy):
    trie, sidmap = toy["trie"], toy["sidmap"]
    assert trie.depth == 3 and len(trie) == len(sidmap.codes)
    prefixes = {codes[:level] for codes in sidmap.codes.values() for level in range(3)}
    for prefix in prefixes:
        assert set(trie.allowed(trie.path(prefix))) == brute_force_allowed(trie, sidmap, prefix)
    # codes no item starts with are never allowed, and full SIDs have no continuation
    unused = [c for c in range(6) if not any(codes[0] == c for codes in sidmap.codes.values())]
    assert all(trie.token_ids[0][c] not in trie.allowed(()) for c in unused)
    assert trie.allowed(trie.path(sidmap.codes["1"])) == []


def test_item_for_round_trips_and_rejects_non_items(toy):
    trie, sidmap = toy["trie"], toy["sidmap"]
    for item, codes in sidmap.codes.items():
        path = trie.path(codes)
        assert trie.item_for(path) == item and trie.codes(path) == codes
    unused = next((a, b, c) for a in range(6) for b in range(5) for c in range(6)
                  if (a, b, c) not in set(sidmap.codes.values()))
    assert trie.item_for(trie.path(unused)) is None
    assert trie.item_for(trie.path(sidmap.codes["1"])[:2]) is None


def test_exclusion_prunes_only_branches_with_no_item_left(toy):
    trie, sidmap = toy["trie"], toy["sidmap"]
    target = sidmap.codes["1"]
    excluded = {"1", "no-such-item"}
    exclusion = trie.exclusion(excluded)
    for level in range(3):
        prefix = target[:level]
        assert set(trie.allowed(trie.path(prefix), exclusion)) == brute_force_allowed(trie, sidmap, prefix, excluded)
    assert trie.path(target)[2] not in trie.allowed(trie.path(target[:2]), exclusion)
    # excluding every item under a first-level code removes that code from the root
    under = {i for i, c in sidmap.codes.items() if c[0] == target[0]}
    assert trie.path(target)[0] not in trie.allowed((), trie.exclusion(under))
    assert trie.path(target)[0] in trie.allowed(())  # the trie itself is unchanged


def test_missing_tokens_and_shared_sids_are_refused(toy):
    tokenizer = toy["tokenizer"]
    wider = SidMap("toy", "random", [6, 5, 7], {"1": (0, 0, 6)})
    with pytest.raises(SidLensError, match="lacks 1 SID tokens"):
        SidTrie(wider, tokenizer)
    assert token(2, 6) not in tokenizer.get_vocab()
    with pytest.raises(SidLensError, match="share the SID"):
        SidTrie(SidMap("toy", "random", [6, 5, 6], {"1": (0, 1, 2), "2": (0, 1, 2)}), tokenizer)
