"""Money strings contain "$": MathJax (JupyterLab, Voila) must not typeset them as LaTeX."""

import pandas as pd

from finlib import widgets


def test_tiles_and_tables_opt_out_of_mathjax():
    tiles = widgets.tiles_html([widgets.Tile("Revenue", 719_300.0), widgets.Tile("MRR", 721_700.0)])
    assert tiles.count("$") >= 2 and "mathjax_ignore" in tiles and "tex2jax_ignore" in tiles
    table = widgets.table_html(pd.DataFrame({"spend": ["$5,455", "$63.0k"]}))
    assert "mathjax_ignore" in table


def test_a_note_with_two_amounts_is_not_typeset(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    widgets.show_note("revenue $719.3k against a target of $781.9k")
    assert "mathjax_ignore" in shown[0] and "$719.3k" in shown[0]
