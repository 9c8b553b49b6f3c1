"""The training data, domain and config pass Rasa's validation without real warnings."""
from bot.validate import responses_named_by_actions, validate


def test_project_data_validates_clean():
    assert validate() == []


def test_responses_named_by_actions_are_found():
    # the handoff action sends its queue message by response name
    assert "utter_handoff_queued" in responses_named_by_actions()
