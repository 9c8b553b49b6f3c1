"""A message without a single word is "not understood", never read as a request; a short
answer, a number or an acronym always reaches the assistant's reading."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.gibberish import is_gibberish, is_word_heap
from bot.nlu.gibberish import GibberishClassifier
from bot.textnorm import normalize_for_nlu


@pytest.mark.parametrize("text", [
    "asdkjh qwe", "qwertyuiop", "zxcvbnm 123", "fdsa rewq vcxz", "jjjjjjjjjjjj", "!!!@@@###", "🙃🙃🙃🙃",
    "的的的的的的", "噼里啪啦咕噜咕噜", "；‘。、，。、", "8848 3721 9527", "？？？",
])
def test_messages_without_a_word_are_gibberish(text):
    assert is_gibberish(text)


@pytest.mark.parametrize("text", [
    "你好", "好的", "嗯", "在吗", "对对对", "谢谢", "哦", "20000", "3", "IATF", "5G", "Bosch", "OK",
    "张经理 13800000000", "wang@example.com", "要成都的", "第二家", "那四川呢", "Tell me a joke",
    "/greet", "",
])
def test_answers_numbers_names_and_short_replies_are_not(text):
    assert not is_gibberish(text)


def test_a_message_of_punctuation_alone_is_not_understood_whatever_the_classifier_guessed():
    """The normaliser before the component turns punctuation at the ends into spaces."""
    messages = [Message(data={"text": normalize_for_nlu(text), "intent": {"name": "help", "confidence": 0.9}})
                for text in ("；‘。、，。、", "？！", "找供应商")]
    read = GibberishClassifier().process(messages)
    assert [m.get("intent")["name"] for m in read] == ["nlu_fallback", "nlu_fallback", "help"]


@pytest.mark.parametrize("text, heap", [
    ("鹅卵石拖拉机紫色星期八", True), ("苹果香蕉电脑", True), ("月亮石头蓝色", True),
    ("今天重庆天气怎么样", False), ("给我讲个笑话吧", False), ("成都天气", False), ("成都火锅好吃吗", False),
    ("Tell me a joke", False),
])
def test_chinese_words_strung_together_ask_nothing(text, heap):
    assert is_word_heap(text) is heap
