"""Human handoff: who is waiting for a person, who holds which conversation.

- :mod:`bot.handoff.store` — :class:`HandoffStore`, one object over the handoff
  database, combining the modules below (SQLAlchemy; SQLite by default);
- :mod:`bot.handoff.schema` — its tables and their Alembic history (``migrations/handoff``);
- :mod:`bot.handoff.lifecycle` — statuses, the one transition table, queue, take-over,
  transfer; :mod:`bot.handoff.assignment` — which team a handoff is queued for, the cap;
- :mod:`bot.handoff.transcripts` — the console's copy of every conversation, list, search;
- :mod:`bot.handoff.accounts` — staff accounts, passwords, sessions, login throttling;
- :mod:`bot.handoff.audit`, :mod:`bot.handoff.figures`, :mod:`bot.handoff.ratings`,
  :mod:`bot.handoff.desk` (canned responses, labels), :mod:`bot.handoff.summary`,
  :mod:`bot.handoff.privacy` (masking outside the transcript);
- :mod:`bot.handoff.officehours` — when staff are there to answer;
- :mod:`bot.handoff.rasa_client` — :class:`RasaClient`, the one class that talks to
  Rasa's token-protected HTTP API (staff replies, pause, resume);
- :mod:`bot.handoff.events` — follow Rasa's event broker (SQL table or RabbitMQ);
- :mod:`bot.handoff.ingest` — turn broker events into conversation state for the console.
"""
