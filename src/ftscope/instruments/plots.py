"""Figures shared by chapters (seaborn/matplotlib; plotly for interactive ones)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

PALETTE = "colorblind"  # seaborn's colour-blind-safe palette, the book's one palette
# The same thing has the same colour in every chapter: a protocol (reFT, Scr.+FT), a component of the
# probability change (topic, style, factual), a fine-tuning domain (Lua, stories). Indices into PALETTE.
ROLE_INDEX = {"reFT": 0, "Scr.+FT": 1, "topic": 0, "style": 1, "factual": 2, "novel fact at the object": 2,
              "C4": 3, "lua": 0, "stories": 1, "luastories": 2, "residual": 7}
NEUTRAL = {"total": "black", "base": "black", "orig": "black", "control": "grey", "chance": "grey"}


def colour(name: str) -> str:
    """The book's colour for a named protocol, component or domain (hex); matplotlib's cycle is not used for
    these, so that a name keeps its colour whatever else is in the figure. Unknown names raise KeyError."""
    if name in NEUTRAL:
        return NEUTRAL[name]
    return sns.color_palette(PALETTE).as_hex()[ROLE_INDEX[name]]


def style() -> None:
    """The book's one plotting style: seaborn's white grid with its colour-blind-safe palette."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.9, palette=PALETTE)


def show(fig) -> None:
    """Show a figure as its cell's one output and close it (the inline backend would show an open figure a
    second time, and a figure cell must have one output: the book numbers and captions it)."""
    from IPython.display import display

    display(fig)
    plt.close(fig)


def attention_maps(patterns: list[np.ndarray], labels: list[str], titles: list[str], suptitle: str = "",
                   highlight: str | None = None):
    """One heatmap per (query × key) attention pattern; key tokens equal to ``highlight`` in red."""
    fig, axes = plt.subplots(1, len(patterns), figsize=(4.2 * len(patterns), 4.0), squeeze=False)
    for ax, pattern, title in zip(axes[0], patterns, titles):
        sns.heatmap(pattern, ax=ax, cmap="viridis", vmin=0, vmax=1, cbar=False, square=True,
                    xticklabels=labels, yticklabels=labels)
        ax.set_title(title)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        ax.tick_params(labelsize=6)
        if highlight is not None:
            for tick in ax.get_xticklabels():
                if tick.get_text() == highlight:
                    tick.set_color("red")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def paired_heatmaps(ours, paper, title_ours: str, title_paper: str, fmt: str = ".0f", suptitle: str = ""):
    """Our table beside the paper's, same rows and columns (NaN where the paper has no cell)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(ours) + 2.0))
    for ax, frame, title in zip(axes, (ours, paper), (title_ours, title_paper)):
        sns.heatmap(frame, ax=ax, annot=True, fmt=fmt, cmap="mako", vmin=0, vmax=100, cbar=False)
        ax.set_title(title)
        ax.set_ylabel("")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
