"""Chinese normalisation and NLU: what users type in traditional characters, full-width
letters or wrapped in noise is understood like plain simplified Chinese."""
from __future__ import annotations

import json
import urllib.request

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.normalizer import ChineseTextNormalizer
from bot.textnorm import has_meaningful_text, normalize_for_nlu


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("川渝聯合研發項目", "川渝联合研发项目"),
        ("ＩＡＴＦ　１６９４９", "IATF 16949"),
        ("～～请问基金！！", "  请问基金  "),
        ("a\x00b\u200bc", "a b c"),
        ("30%的企业", "30%的企业"),
    ],
)
def test_normalisation(raw, normalised):
    assert normalize_for_nlu(raw) == normalised


@pytest.mark.parametrize("raw", ["😀😀", "～～～", " \t ", "<>!!"])
def test_noise_only_text_has_no_meaningful_content(raw):
    assert not has_meaningful_text(raw)


def test_normaliser_keeps_entity_offsets_of_training_examples():
    text = "找ＩＡＴＦ認證的璧山區供應商"
    start = text.index("璧山區")
    example = Message.build(text=text, intent="find_supplier")
    example.set("entities", [{"start": start, "end": start + 3, "value": "璧山区", "entity": "district"}])
    normalised = ChineseTextNormalizer().process_training_data(TrainingData([example]))
    message = normalised.training_examples[0]
    entity = message.get("entities")[0]
    assert message.get("text")[entity["start"] : entity["end"]] == "璧山区"
    assert message.get("text") == "找IATF认证的璧山区供应商"


def parse(stack, text: str) -> dict:
    request = urllib.request.Request(
        f"{stack.rasa_url}/model/parse?token={stack.token}",
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.parametrize(
    "text, intent",
    [
        ("川渝聯合研發項目支持哪些領域？", "ask_policy"),
        ("～～发展基金规模多大！！！", "ask_policy"),
        ("你好！😀", "greet"),
        ("謝謝", "thank"),
        ("帮我订一张机票", "out_of_scope"),
    ],
)
def test_trained_model_understands_variants(assistant, text, intent):
    assert parse(assistant, text)["intent"]["name"] == intent


def test_button_payloads_pass_the_normaliser_untouched(assistant):
    assert parse(assistant, "/greet")["intent"]["name"] == "greet"
    parsed = parse(assistant, '/ask_policy{"policy_id": "joint-rd-programme"}')
    assert parsed["intent"]["name"] == "ask_policy"
    assert parsed["entities"][0]["value"] == "joint-rd-programme"
