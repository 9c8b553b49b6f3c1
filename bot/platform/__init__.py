"""Platform data and matching: the two platforms' export, requests, matching.

- ``models``: SQLAlchemy models (imported export rows with a ``retired`` flag; requests
  the assistant creates); ``migrations/`` holds their Alembic migrations.
- ``db``: engine, sessions, ``upgrade_to_head()``, the ``data_version`` counter.
- ``importer``: ``import_export(dir)`` / ``ensure_demo_data()``; CLI in ``cli``
  (``python -m bot import-export DIR``).
- ``queries``: documented query functions for actions and the staff console.
- ``snapshot``, ``synonyms``, ``understanding``, ``matching``: the in-memory index,
  request understanding (a phrase finder over the platforms' vocabulary) and
  supplier / expert ranking; ``get_index()`` is the entry point.
- ``publishing``: storing demands and products published through chat, with matches.
- ``replies``: match lists as chat text, buttons and card payloads.
"""
