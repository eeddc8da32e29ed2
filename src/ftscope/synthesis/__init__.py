"""The synthesis (chapter 10): each paper's instrument turned on another paper's models.

The models are chapter 05's story models (Jain et al. Sec. 5.2: the base, the models after deleting Twist and
after reviving it), read from the cache; nothing here trains a language model. The rooms, as in every setting:

- ``settings``: ``LensesConfig`` and ``StoryModels`` (chapter 05's models at the same preset), the models' labels.
- ``training``: the SAEs as cached cells; the chapter's cells for ``ftscope sweep`` and its work for
  ``ftscope plan``.
- ``analyses``: the SAE lens (the base's Twist features through deletion and revival, against the floor of
  models that never had them) and the merge lens (SLERP back toward the base against the deletion's own
  curve), each ending in a findings record.
- ``figures``: the chapter's figures and tables.
- ``claims``: the criteria, fixed before the run, and the chapter's claims as rows.
"""
