"""Figures: overlays land on the right points, hover text is escaped, the beam tree links levels."""
from __future__ import annotations

import numpy as np

from app.charts import beam_tree, codebook_scatter
from core.decode.results import BeamNode


def test_scatter_groups_overlays_and_escapes_hover_text():
    coords = np.arange(12, dtype=np.float32).reshape(4, 3)
    fig = codebook_scatter(coords, ["a", "b", "c", "d"], ["x", "y", "x", "y"],
                           ["&lt;b&gt;bold&lt;/b&gt;", "b", "c", "d"], history=["c"], recommended=["b", "zz"])
    names = [t.name for t in fig.data]
    assert names == ["x", "y", "current history", "latest recommendations"]
    assert fig.data[0].type == "scatter3d" and list(fig.data[0].z) == [2.0, 8.0]
    assert list(fig.data[2].x) == [6.0] and list(fig.data[3].x) == [3.0]  # unknown "zz" is skipped
    flat = codebook_scatter(coords[:, :2], ["a", "b", "c", "d"], ["<i>x</i>"] * 4, ["t"] * 4)
    assert flat.data[0].type == "scattergl" and flat.data[0].name == "&lt;i&gt;x&lt;/i&gt;"


def test_beam_tree_connects_each_prefix_to_its_parent():
    tree = [[BeamNode((1,), 0.6, -0.5), BeamNode((2,), 0.3, -1.2)],
            [BeamNode((1, 4), 0.9, -0.6), BeamNode((2, 0), 0.5, -1.9)]]
    fig = beam_tree(tree, lambda codes: "".join(f"<{'ab'[i]}_{c}>" for i, c in enumerate(codes)))
    edges, nodes = fig.data[0], fig.data[1]
    assert list(edges.x) == [0, 1, None, 0, 1, None, 1, 2, None, 1, 2, None]
    assert list(edges.y) == [0, 0, None, 0, -1, None, 0, 0, None, -1, -1, None]  # (2,0) hangs under (2,)
    assert list(nodes.text) == ["&lt;a_1&gt;", "&lt;a_2&gt;", "&lt;a_1&gt;&lt;b_4&gt;", "&lt;a_2&gt;&lt;b_0&gt;"]
