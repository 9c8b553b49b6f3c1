"""Human handoff: who is waiting for a person, who holds which conversation.

- :mod:`bot.handoff.store` — the handoff state, staff accounts, sessions, audit log and
  the console's copy of every transcript (SQLAlchemy; SQLite by default).
- :mod:`bot.handoff.officehours` — when staff are there to answer.
- :mod:`bot.handoff.rasa_client` — :class:`RasaClient`, the one class that talks to
  Rasa's token-protected HTTP API (staff replies, pause, resume).
- :mod:`bot.handoff.events` — follow Rasa's event broker (SQL table or RabbitMQ).
- :mod:`bot.handoff.ingest` — turn broker events into conversation state for the console.
"""
