"""jieba set up before the action server takes requests.

The knowledge base and the platform's request reader segment with jieba's default
tokenizer and tagger (``bot.segmentation``). Setting them up here, in the server's main
thread before it serves, installs the compact dictionary (built once, ~3 s, on the first
start after jieba's dictionary changed; in a request's worker thread the memory freed by
the build would stay with the process) and loads the domain dictionary, so the first
request does neither.
"""
from __future__ import annotations

from typing import Any

import pluggy
from sanic import Sanic

from bot.segmentation import domain_tagger

hookimpl = pluggy.HookimplMarker("rasa_sdk")


def prepare_segmentation(_app: Any, _loop: Any) -> None:
    """The compact dictionary and the domain dictionary in jieba's default tokenizer and tagger."""
    domain_tagger()


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa_sdk's hook: set jieba up before the server starts serving."""
    app.register_listener(prepare_segmentation, "before_server_start")
