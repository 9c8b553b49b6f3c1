"""A message without a single word is "not understood", never read as a request; a short
answer, a number or an acronym always reaches the assistant's reading."""
from __future__ import annotations

import pytest

from bot.gibberish import is_gibberish


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
