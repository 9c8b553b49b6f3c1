"""Extensions of the action server, found by rasa_sdk by this package's name.

rasa_sdk (3.6+) imports ``rasa_sdk_plugins`` when ``python -m rasa_sdk`` starts and
calls :func:`init_hooks`; each registered module may implement the
``attach_sanic_app_extensions(app)`` hook to add listeners, routes or middleware to the
action server's Sanic app. See rasa_sdk's "Sanic Extensions" documentation.
"""
from __future__ import annotations

import pluggy


def init_hooks(manager: pluggy.PluginManager) -> None:
    """Register this project's action-server extensions with rasa_sdk."""
    from rasa_sdk_plugins import action_auth, metrics, platform_index, segmentation

    manager.register(action_auth)
    manager.register(platform_index)
    manager.register(segmentation)
    manager.register(metrics)
