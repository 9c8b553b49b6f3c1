from tests.helpers import send_rest


def test_policy_question_gets_answer_with_source(assistant):
    replies = send_rest(assistant, "test-policy-1", "川渝联合研发项目支持哪些领域")
    text = "\n".join(m.get("text", "") for m in replies)
    assert "人工智能" in text and "大健康" in text
    assert "来源" in text and "重庆日报" in text
