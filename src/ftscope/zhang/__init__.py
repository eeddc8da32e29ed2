"""Zhang & Wu (2024), *Dissecting learning and forgetting in language model finetuning*: its setting and its
reported numbers, on a world in which topic, style and facts are explicit.

- ``world``: the generator (topics, styles, a knowledge base with known and novel facts), skeletons and
  their single-factor variants, the validity checks, ``probe_set`` (the contract) and the oracle.
- ``setting``: ``ZhangConfig``, the word-level tokenizer, the corpora, the GPT-2 model, pretraining and
  the fine-tuning grid as cached cells.
- ``decompose``: per-token losses, the topic / style / factual components (per token and per document,
  bootstrap intervals), position profiles, the factual contrast at each object.
- ``analyses``: chapter 06's tables, figures and facts; ``claims``: the criteria and claims of chapters 06 and 07.
- ``capacity``: LoRA adapters (``peft``); ``arms``: chapter 07's arms (capacity, data, independence, mixing);
  ``realtext``: Part III's base fine-tuned on real PubMed abstracts; ``hub``: the paper's derived sets.
- ``reported``: the paper's setup and Table 1 (the paper gives directions, no numbers).
"""

from ftscope._exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["World", "WorldParams", "probe_set", "ANALOGS"], "world"),
    **dict.fromkeys(["ZhangConfig", "load_setting", "pretrained", "finetuned"], "setting"),
    **dict.fromkeys(["components", "score", "position_profile"], "decompose"),
    **dict.fromkeys(["ArmsConfig"], "arms"),
    **dict.fromkeys(["world", "setting", "decompose", "analyses", "claims", "reported", "capacity", "arms",
                     "realtext", "hub"], ""),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
