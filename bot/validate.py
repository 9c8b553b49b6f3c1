"""``python -m bot validate``: ``rasa data validate`` that fails on every warning but one.

Rasa's validator warns "The utterance 'utter_x' is not used in any story or rule" also
for responses that forms ask (``utter_ask_<slot>``) and for responses that custom
actions send (``dispatcher.utter_message(response="utter_x")``): both are used, just
not from a story. This check accepts exactly those — a response an action names must
exist in the domain — and fails on every other warning or error.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import List, Set

from bot.settings import PROJECT_ROOT

UNUSED_UTTERANCE = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")
ACTION_RESPONSE = re.compile(r"""response\s*=\s*["'](utter_[A-Za-z0-9_]+)["']""")


def responses_named_by_actions(actions_dir: Path = PROJECT_ROOT / "actions") -> Set[str]:
    """Responses that the custom actions send by name."""
    return {
        name
        for path in actions_dir.rglob("*.py")
        for name in ACTION_RESPONSE.findall(path.read_text(encoding="utf-8"))
    }


def form_questions(domain) -> Set[str]:
    """``utter_ask_<slot>`` / ``utter_ask_<form>_<slot>`` for every form slot."""
    questions = set()
    for form, definition in domain.forms.items():
        for slot in definition.get("required_slots", []):
            questions |= {f"utter_ask_{slot}", f"utter_ask_{form}_{slot}"}
    return questions


def _expected_by_rasa(warning: warnings.WarningMessage) -> bool:
    """Warnings Rasa itself always raises and filters (e.g. "Slot auto-fill has been removed")."""
    from rasa.utils.common import EXPECTED_WARNINGS

    return any(
        issubclass(warning.category, category) and re.match(pattern, str(warning.message))
        for category, pattern in EXPECTED_WARNINGS
    )


def validate() -> List[str]:
    """Run Rasa's checks; return the problems (empty when the project is clean)."""
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    importer = TrainingDataImporter.load_from_config(
        str(PROJECT_ROOT / "config.yml"), str(PROJECT_ROOT / "domain.yml"), [str(PROJECT_ROOT / "data")]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validator = Validator.from_importer(importer)
        domain = importer.get_domain()
        results = [
            validator.verify_domain_validity(),
            validator.verify_actions_in_stories_rules(),
            validator.verify_forms_in_stories_rules(),
            validator.verify_form_slots(),
            validator.verify_slot_mappings(),
            validator.verify_nlu(ignore_warnings=True),
            validator.verify_story_structure(ignore_warnings=False),
        ]
    used_elsewhere = responses_named_by_actions() | form_questions(domain)
    problems = []
    for warning in caught:
        text = str(warning.message)
        if not issubclass(warning.category, UserWarning) or _expected_by_rasa(warning):
            continue  # library notices that say nothing about our data
        unused = UNUSED_UTTERANCE.search(text)
        if unused and unused.group(1) in used_elsewhere:
            continue
        problems.append(text)
    missing = sorted(name for name in responses_named_by_actions() if name not in domain.responses)
    problems += [f"actions send the response {name!r}, which the domain does not define" for name in missing]
    if not all(results) and not problems:
        problems.append("Rasa's validator reported errors (see the log above)")
    return problems


def main() -> int:
    problems = validate()
    for problem in problems:
        print(f"✗ {problem}")
    print("validation: clean" if not problems else f"validation: {len(problems)} problem(s)")
    return 1 if problems else 0
