"""Pinyin without pypinyin's phrase table (bot/pinyin.py): the domain vocabulary reads as with
the full table, and lexicon/pinyin.txt is what scripts/pinyin_readings.py generates."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bot.launcher import child_environment
from bot.pinyin import READINGS_PATH, lazy_pinyin, read_readings
from bot.settings import PROJECT_ROOT


def test_heteronyms_of_the_domain_read_as_in_their_words():
    assert lazy_pinyin("重庆") == ["chong", "qing"]
    assert lazy_pinyin("长安") == ["chang", "an"]
    assert lazy_pinyin("长寿") == ["chang", "shou"]
    assert lazy_pinyin("重型卡车") == ["zhong", "xing", "ka", "che"]
    assert lazy_pinyin("轮毂 in 重庆") == ["lun", "gu", " in ", "chong", "qing"]


def test_the_readings_file_holds_tone_marked_syllables_one_per_character():
    readings = read_readings(READINGS_PATH.read_text(encoding="utf-8"))
    assert readings["重庆"] == [["chóng"], ["qìng"]]
    assert all(len(word) == len(syllables) for word, syllables in readings.items())


@pytest.mark.stack
def test_the_readings_file_is_up_to_date_and_every_word_reads_as_with_the_full_table():
    result = subprocess.run(
        [sys.executable, "scripts/pinyin_readings.py", "--check"], cwd=PROJECT_ROOT, env=child_environment(),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
