"""The synthesis (chapter 10): each paper's instrument turned on another paper's models.

The models are chapter 05's story models (Jain et al. Sec. 5.2: the base, the models after deleting Twist and
after reviving it), read from the cache; nothing here trains a language model.

- ``setting``: ``LensesConfig`` and ``StoryModels`` (chapter 05's models at the same preset).
- ``features``: Horn & Elliott's lens: SAEs on a middle block of each model, features matched across them, the
  base's Twist features through deletion and revival, against the floor of models that never had them.
- ``merging``: Horn & Elliott's SLERP between the base and a deleted model, against the deletion's own curve
  and reFT's.
- ``claims``: the criteria, fixed before the run, and the chapter's claims.
- ``cells``: the chapter's cells for ``ftscope sweep``; ``bench``: its SAEs for ``ftscope plan``.
"""

from ftscope._exports import lazy_exports

_EXPORTS = {"LensesConfig": "setting", "StoryModels": "setting", "story_models": "setting",
            **dict.fromkeys(["setting", "features", "merging", "claims", "cells", "bench"], "")}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
