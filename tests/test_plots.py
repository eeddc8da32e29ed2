"""The book's one plotting style: a colour-blind-safe palette, and the same colour for the same thing."""

import pytest
import seaborn as sns

from ftscope.horn import merging
from ftscope.instruments import plots
from ftscope.zhang import analyses, arms


def test_a_protocol_component_or_domain_has_one_colour_across_chapters():
    palette = sns.color_palette(plots.PALETTE).as_hex()
    assert plots.colour("reFT") == palette[0] and plots.colour("Scr.+FT") == palette[1]
    assert plots.colour("reFT") != plots.colour("Scr.+FT")
    assert analyses.COLOURS["topic"] == arms.COLOURS["topic"] == plots.colour("topic")
    assert analyses.COLOURS["factual"] == arms.COLOURS["factual share"] == plots.colour("factual")
    assert merging.DOMAIN_COLOURS == {"lua": plots.colour("lua"), "stories": plots.colour("stories")}
    assert plots.colour("total") == "black"
    with pytest.raises(KeyError):
        plots.colour("no such protocol")


def test_style_sets_the_colour_blind_palette():
    plots.style()
    import matplotlib as mpl

    cycle = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
    assert [sns.utils.to_rgb(c) for c in cycle[:3]] == sns.color_palette(plots.PALETTE)[:3]
