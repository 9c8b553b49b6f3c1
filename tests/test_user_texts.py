"""Every sentence a user reads lives in domain.yml or the catalogue (bot/messages.py).

Actions send whole messages by response name; channels and code that composes a
message take their words from the catalogue. These checks read the source (AST), so
a new sentence typed into an action or a channel fails here instead of slipping past
translation.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterator, List, Set, Tuple

import pytest
import yaml

from bot.messages import CATALOGUE, DEFAULT_LANGUAGE, LANGUAGES, catalogue_problems, user_text

ROOT = Path(__file__).resolve().parent.parent
#: Chinese characters (punctuation alone, like a menu's 「、」, is not a sentence).
HAN = re.compile(r"[\u3400-\u9fff]")
#: Calls that put text in front of a user.
SENDING_CALLS = {
    "utter_message", "send_message", "send_text", "send_text_message", "send_text_with_buttons",
    "send_response", "notify", "Reply", "response", "_emit", "push_text",
}


def python_files(*folders: str) -> List[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def call_name(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return ""


def calls(tree: ast.AST, name: str) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and call_name(node) == name:
            yield node


def literal_text(node: ast.AST) -> str:
    """The literal characters written in an expression (constants and f-string parts)."""
    return "".join(
        child.value
        for child in ast.walk(node)
        if isinstance(child, ast.Constant) and isinstance(child.value, str)
    )


def docstring_nodes(tree: ast.AST) -> Set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def passes_a_key_through(node: object) -> bool:
    """``user_text(key, …)`` / ``user_text(self.key, …)``: a key written (and checked) elsewhere."""
    return (isinstance(node, ast.Name) and node.id == "key") or (
        isinstance(node, ast.Attribute) and node.attr == "key"
    )


def catalogue_keys_used() -> List[Tuple[str, str, int]]:
    """``(key, file, line)`` of every ``user_text("key", …)`` / ``RequestError("key", …)``."""
    used = []
    for path in python_files("bot", "actions"):
        tree = parsed(path)
        for name in ("user_text", "RequestError"):
            for node in calls(tree, name):
                first = node.args[0] if node.args else None
                where = (str(path.relative_to(ROOT)), node.lineno)
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    used.append((first.value, *where))
                elif name == "user_text" and not passes_a_key_through(first):
                    used.append(("<not a literal key>", *where))
    return used


def test_the_catalogue_has_every_language_with_the_same_placeholders() -> None:
    assert DEFAULT_LANGUAGE in LANGUAGES
    assert catalogue_problems() == {}


def test_user_text_fills_values_and_falls_back_to_the_default_language() -> None:
    expected = "消息过长（2100 字），请精简到 2000 字以内后再发送。"
    assert user_text("input.too_long", length=2100, limit=2000) == expected
    assert user_text("input.empty", "fr") == user_text("input.empty")
    assert user_text("input.too_long", "en", length=2100, limit=2000).startswith("Your message is too long (2100")
    with pytest.raises(KeyError):
        user_text("no.such.key")


def test_every_catalogue_key_used_in_code_exists_and_every_entry_is_used() -> None:
    used = catalogue_keys_used()
    unknown = [f"{file}:{line}: {key}" for key, file, line in used if key not in CATALOGUE]
    assert not unknown, "keys not in bot/messages.py (or not literal):\n" + "\n".join(unknown)
    unused = [key for key in CATALOGUE if key not in {k for k, _, _ in used}]
    assert not unused, f"catalogue entries nothing uses: {unused}"


def test_every_response_an_action_sends_is_in_the_domain() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    named = []
    for path in python_files("actions"):
        for node in calls(parsed(path), "utter_message"):
            for keyword in node.keywords:
                if keyword.arg == "response":
                    where = f"{path}:{node.lineno}"
                    assert isinstance(keyword.value, ast.Constant), f"{where}: name a response literally"
                    named.append(keyword.value.value)
    assert named and set(named) <= set(domain["responses"])


def test_no_action_or_channel_sends_a_sentence_typed_in_code() -> None:
    offences = []
    for path in python_files("actions", "bot/channels", "bot/platform", "bot/knowledge"):
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Call) and call_name(node) in SENDING_CALLS:
                for argument in [*node.args, *(k.value for k in node.keywords)]:
                    if HAN.search(literal_text(argument)):
                        offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {call_name(node)}(…)")
    assert not offences, "move these sentences to domain.yml or bot/messages.py:\n" + "\n".join(offences)


def test_channel_modules_hold_no_chinese_text_at_all() -> None:
    # Channels only route and render: every word they show comes from the catalogue.
    offences = []
    for path in python_files("bot/channels"):
        tree = parsed(path)
        docstrings = docstring_nodes(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and HAN.search(node.value)):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:30]!r}")
    assert not offences, "\n".join(offences)
