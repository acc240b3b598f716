"""Plotly figures the pages draw: the codebook scatter and the beam-search tree.

Hover text is HTML-escaped (plotly renders a subset of HTML in labels), titles included.
"""
from __future__ import annotations

import re
from collections import defaultdict

import plotly.graph_objects as go

from app import ui

OVERLAY_SYMBOLS = {2: ("diamond", "star"), 3: ("diamond", "x")}


def codebook_scatter(coords, item_ids: list[str], labels: list[str], hover_text: list[str],
                     history: list[str] = (), recommended: list[str] = ()) -> go.Figure:
    """Items as points coloured by `labels`; history and recommendations drawn on top."""
    dims = coords.shape[1]
    groups = defaultdict(list)
    for row, label in enumerate(labels):
        groups[label].append(row)
    fig = go.Figure()

    def add(rows, name, **marker):
        axes = {"x": coords[rows, 0], "y": coords[rows, 1]}
        custom = [[hover_text[r]] for r in rows]
        common = dict(mode="markers", name=name, customdata=custom, hovertemplate="%{customdata[0]}<extra></extra>")
        if dims == 3:
            fig.add_trace(go.Scatter3d(**axes, z=coords[rows, 2], marker={"size": 3, **marker}, **common))
        else:
            fig.add_trace(go.Scattergl(**axes, marker={"size": 6, **marker}, **common))

    for label in sorted(groups, key=lambda g: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", g)]):
        add(groups[label], ui.hover(label), opacity=0.75)
    index = {item_id: row for row, item_id in enumerate(item_ids)}
    symbols = OVERLAY_SYMBOLS[dims]
    overlays = (("current history", history, symbols[0]), ("latest recommendations", recommended, symbols[1]))
    for name, chosen, symbol in overlays:
        rows = [index[i] for i in chosen if i in index]
        if rows:
            add(rows, name, symbol=symbol, size=14 if dims == 2 else 7, color="black",
                line={"width": 1, "color": "white"})
    fig.update_layout(height=620, margin={"l": 0, "r": 0, "t": 30, "b": 0}, legend={"itemsizing": "constant"})
    return fig


def beam_tree(tree: list[list], sid_text) -> go.Figure:
    """The beams kept at every SID level as a tree: x = level, one node per kept prefix, edges to the
    parent prefix; node size and colour show the level's token probability. `tree[level]` lists
    `BeamNode`s (codes, prob, score); `sid_text(codes)` names a prefix."""
    positions = {}
    fig = go.Figure()
    edge_x, edge_y = [], []
    for level, nodes in enumerate(tree):
        for rank, node in enumerate(sorted(nodes, key=lambda n: -n.score)):
            positions[tuple(node.codes)] = (level + 1, -rank)
            parent = positions.get(tuple(node.codes[:-1]), (0, 0))
            edge_x += [parent[0], level + 1, None]
            edge_y += [parent[1], -rank, None]
    fig.add_trace(go.Scatter(x=edge_x, y=edge_y, mode="lines", line={"color": "#bbb", "width": 1},
                             hoverinfo="skip", showlegend=False))
    nodes = [n for level in tree for n in level]
    fig.add_trace(go.Scatter(
        x=[positions[tuple(n.codes)][0] for n in nodes], y=[positions[tuple(n.codes)][1] for n in nodes],
        mode="markers+text", text=[ui.hover(sid_text(n.codes)) for n in nodes], textposition="middle right",
        marker={"size": [8 + 22 * n.prob for n in nodes], "color": [n.prob for n in nodes], "colorscale": "Blues",
                "cmin": 0, "cmax": 1, "showscale": True, "colorbar": {"title": "p(token)"},
                "line": {"width": 1, "color": "#333"}},
        customdata=[[ui.hover(sid_text(n.codes)), n.prob, n.score] for n in nodes],
        hovertemplate="%{customdata[0]}<br>p = %{customdata[1]:.3f}<br>log-prob %{customdata[2]:.2f}<extra></extra>",
        showlegend=False))
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers+text", text=["prompt"], textposition="middle left",
                             marker={"size": 10, "color": "#333"}, hoverinfo="skip", showlegend=False))
    fig.update_layout(height=max(300, 28 * max((len(level) for level in tree), default=1)),
                      xaxis={"tickvals": list(range(len(tree) + 1)), "range": [-0.5, len(tree) + 0.9],
                             "ticktext": ["prompt"] + [f"level {i + 1}" for i in range(len(tree))]},
                      yaxis={"visible": False}, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    return fig


def attribution_bars(labels: list[str], effects: list[float]) -> go.Figure:
    """Horizontal bars, most influential at the top: each history item's effect on the explained
    item's log-probability (> 0: leaving it out lowers it, so it supported the recommendation)."""
    fig = go.Figure(go.Bar(x=effects[::-1], y=[ui.hover(t) for t in labels[::-1]], orientation="h",
                           marker={"color": ["#2b8a3e" if e > 0 else "#c92a2a" for e in effects[::-1]]},
                           hovertemplate="%{y}<br>effect %{x:+.3f} nats<extra></extra>"))
    fig.update_layout(height=max(240, 26 * len(labels) + 60), margin={"l": 0, "r": 0, "t": 10, "b": 0},
                      xaxis={"title": "log p(item | history) - log p(item | history without this one)"})
    return fig
