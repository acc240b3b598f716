"""Codebook space: the UMAP scatter, code explorer, utilisation and collision charts."""
from __future__ import annotations

from core.sid.build import load_sidmap
from core.sid.explore import items_under


def test_codebook_page_draws_and_explores_codes(app):
    at = app("codebook", timeout=300)
    assert len(at.get("plotly_chart")) == 1
    sidmap = load_sidmap("ml-100k")
    listed = at.dataframe[0].value
    assert len(listed) == len(items_under(sidmap, (0,)))
    at.selectbox(key="code_l1").select(3).run()
    sub = at.selectbox(key="code_l2").options[1]
    at.selectbox(key="code_l2").set_value(int(sub.split("_")[1].split(">")[0])).run()
    narrowed = at.dataframe[0].value
    assert 0 < len(narrowed) <= len(items_under(sidmap, (3,)))
    assert all(sid.startswith("<a_3>") for sid in narrowed["sid"]) and narrowed["sid"].str[5:10].nunique() == 1
    at.selectbox(key="codebook_color").select("genre").run()
    assert not at.exception and len(at.get("plotly_chart")) == 1
    stats = at.dataframe[-1].value
    assert list(stats["used"]) and (stats["used"] <= stats["codes"]).all()
