"""ftscope: the library behind *Fine-tuning under the microscope*.

Grouped by layer, then by paper (lower layers never import higher ones):

- ``config``, ``paths``: presets and errors, where things live.
- ``data``: corpora, their fetching, the story world, the tokenizer.
- ``train``: the one training loop, answer-position fine-tuning, the checkpoint cache, models.
- ``instruments``: activations, probing, pruning, revival, merging, SAEs, feature matching, plots.
- ``book``: ``Chapter``, the claims API, the papermill runner, the scorecard, the ``ftscope`` command.
- ``jain``, ``horn`` (and ``zhang`` to come): one package per paper, its settings and its numbers.

Importing ``ftscope`` or ``ftscope.book`` imports none of the heavy libraries.
"""

__version__ = "0.1.0"
