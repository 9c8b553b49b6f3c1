"""The web chat widget for government portals: static assets and a demo portal page.

``bot.widget.routes.setup(app)`` mounts them on the public web gateway; the widget
talks to Rasa through :mod:`bot.channels.socketio`.
"""
