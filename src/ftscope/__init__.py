"""ftscope: the library behind *Fine-tuning under the microscope*.

Modules, by what they are: ``config`` (presets), ``seeding``, ``training`` (the one loop),
``claims`` (the one claims API), ``chapter`` (what notebooks call), ``runner`` and ``book``
(the ``ftscope`` command). Importing ``ftscope`` imports none of the heavy libraries.
"""

__version__ = "0.1.0"
