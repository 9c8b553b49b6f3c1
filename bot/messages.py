"""The catalogue of user-facing texts that ``domain.yml`` cannot hold.

Whole messages an action sends are responses in ``domain.yml`` (Rasa's convention:
``dispatcher.utter_message(response="utter_…", var=…)``). What is left lives here,
keyed, in one place:

* sentences the channels send themselves (refusals, "not supported" notices, the
  numbered-menu prompt, the staff marker) and the notices of the staff console;
* fragments that code composes into a larger message (match-list headings and the
  reasons given for each match, the criteria a request was read as, error reasons).

Each key maps a language code to a ``str.format`` template. :func:`user_text` picks the
text of a language and fills in its values; a key without a text in that language
falls back to Chinese, the default. To add a language, add its code to
:data:`LANGUAGES` and its text beside the Chinese one under every key; a test checks
that every key has a text in every language of :data:`LANGUAGES`, that the
translations use the same placeholders, and that every key used in code exists.
"""
from __future__ import annotations

import string
from typing import Any, Dict, Iterable, Mapping, Set

#: The language of every user unless a channel or the conversation says otherwise.
DEFAULT_LANGUAGE = "zh"
#: The languages every key must have a text in.
LANGUAGES = ("zh",)

CATALOGUE: Mapping[str, Mapping[str, str]] = {
    # --- lists ----------------------------------------------------------------------
    "list.separator": {"zh": "、"},
    "list.clause_separator": {"zh": "；"},
    # --- what any channel says about a message it cannot pass on --------------------
    "input.empty": {"zh": "消息内容为空，请输入您的问题。"},
    "input.too_long": {"zh": "消息过长（{length} 字），请精简到 {limit} 字以内后再发送。"},
    "input.malformed": {"zh": "消息格式不正确。"},
    "input.text_only": {"zh": "目前只能处理文字消息，请用文字描述您的问题。"},
    "input.payload_not_offered": {"zh": "请直接用文字描述您的问题，或点击最新消息中的按钮。"},
    "input.payload_while_staff": {"zh": "工作人员正在为您服务，请直接输入文字与工作人员沟通。"},
    "input.invalid_characters": {"zh": "消息中含有无法识别的字符（乱码或控制字符），请检查后重新输入。"},
    "service.busy": {"zh": "抱歉，服务暂时繁忙，暂时无法处理您的请求，请稍后再试。"},
    "channel.turn_failed": {"zh": "抱歉，系统暂时出错，请稍后再试。"},
    # --- text-only channels (Telegram, WeChat, WeCom) -------------------------------
    "menu.reply_with_number": {"zh": "请回复数字选择："},
    "menu.choose": {"zh": "请选择："},
    "telegram.button_expired": {
        "zh": "这个按钮已失效或无法识别，请直接输入您的问题，或发送 /start 重新开始。"
    },
    # --- the web widget --------------------------------------------------------------
    "widget.session_missing": {"zh": "会话尚未建立或已失效，请刷新页面后重试。"},
    "widget.turn_failed": {
        "zh": "抱歉，系统暂时出现问题，您的消息已记录，请稍后再试或联系工作人员。"
    },
    # --- staff messages, on every channel --------------------------------------------
    "staff.default_name": {"zh": "工作人员"},
    "staff.marker": {"zh": "【人工客服 · {name}】"},
    "staff.waiting_notice": {"zh": "已收到您的消息，工作人员会尽快回复您，请稍候。"},
    "staff.takeover_greeting": {"zh": "您好，工作人员已接入，现在由人工为您服务。"},
    "staff.hand_back_notice": {"zh": "人工服务已结束，智能助手将继续为您服务，您可以直接提问。"},
    "staff.transfer_notice": {"zh": "已为您转接{name}，将继续为您服务。"},
    "staff.transfer_team_notice": {"zh": "正在为您转接{team}方面的工作人员，请稍候。"},
    "rating.request": {"zh": "请您为本次人工服务评价："},
    "rating.thanks": {"zh": "感谢您的评价！如有意见或建议，可以直接回复，我们会转告工作人员。"},
    "rating.nothing_to_rate": {"zh": "这次评价已超出时限或已评价过，感谢您的反馈。"},
    "rating.invalid": {"zh": "评价格式不正确，请点击评价按钮。"},
    "rating.failed": {"zh": "抱歉，评价暂时无法保存，请稍后再试。"},
    "staff.close_notice": {"zh": "本次人工服务已结束，感谢您的咨询。如有其他问题，欢迎随时提问。"},
    # --- policy answers ----------------------------------------------------------------
    "policy.title": {"zh": "【{title}】"},
    "policy.fact": {"zh": "• {fact}"},
    "policy.source": {"zh": "来源：{citation}"},
    "policy.citation": {"zh": "{name}（{authors}，{date}）"},
    # --- match lists as text (text-only channels render payloads with these) ----------
    "matches.supplier_heading": {"zh": "为您匹配到的供应商："},
    "matches.expert_heading": {"zh": "为您推荐的专家："},
    "matches.none": {"zh": "暂时没有找到符合条件的结果，可以换个说法或放宽条件再试试。"},
    "matches.unnamed": {"zh": "（未命名）"},
    "matches.name_with_place": {"zh": "{name}（{place}）"},
    # --- supplier answers --------------------------------------------------------------
    "suppliers.found": {"zh": "为您找到 {total} 家符合「{criteria}」的供应商，第 {first}–{last} 家："},
    "suppliers.all_listed": {"zh": "「{criteria}」的供应商已经全部列出。"},
    "suppliers.none": {"zh": "没有找到符合「{criteria}」的供应商。"},
    "suppliers.cross_region_heading": {"zh": "跨区域可选（川渝协同配套）："},
    "suppliers.refine_hint": {
        "zh": "可以继续筛选，例如「只要重庆的」「要有IATF 16949」「年产能10万件以上」，或说「更多」。"
    },
    "suppliers.none_in_place": {"zh": "{place}暂无符合条件的供应商"},
    "suppliers.reason.cross_region": {"zh": "跨区域推荐：位于{region}（川渝协同配套）"},
    "suppliers.reason.product": {"zh": "产品：{product}（{category}）"},
    "suppliers.reason.keywords": {"zh": "符合：{keywords}"},
    "suppliers.reason.place": {"zh": "地点：{place}"},
    "suppliers.reason.certifications": {"zh": "认证：{certifications}"},
    "suppliers.reason.capacity": {"zh": "年产能：{capacity}{unit}"},
    # --- expert answers ----------------------------------------------------------------
    "experts.found": {"zh": "符合「{criteria}」且目前可接受邀请的专家共 {total} 位，为您推荐 {shown} 位："},
    "experts.none": {"zh": "暂时没有符合「{criteria}」且可接受邀请的专家，可以放宽条件再试。"},
    "experts.line": {"zh": "{number}. {name}（{title}，{organization}）"},
    "experts.avoided": {"zh": "已按回避原则排除：{organizations}及其相关单位。"},
    "experts.privacy": {
        "zh": "为保护隐私，专家的联系方式不在对话中提供；点「联系」后由工作人员为您安排对接。"
    },
    "experts.reason.research_areas": {"zh": "研究方向：{areas}"},
    "experts.reason.fields": {"zh": "领域：{fields}"},
    "experts.reason.title": {"zh": "职称：{level}·{title}"},
    "experts.reason.honors": {"zh": "荣誉：{honors}"},
    "experts.reason.region": {"zh": "地区：{place}"},
    "experts.reason.available": {"zh": "目前可接受邀请，已参与评审 {count} 次"},
    # Refusals of a contact request: they never name the expert.
    "experts.unknown": {"zh": "这位专家已不在专家库中"},
    "experts.unavailable": {"zh": "这位专家目前不接受邀请"},
    "experts.contact_avoided": {"zh": "按回避规则，不能为您联系与贵单位有关联的专家"},
    # --- the criteria a request was read as ("铝合金轮毂、仅重庆、年产能≥10万") ---------
    "criteria.category": {"zh": "{category}类"},
    "criteria.only_place": {"zh": "仅{place}"},
    "criteria.min_capacity": {"zh": "年产能≥{capacity}"},
    "criteria.gender": {"zh": "{gender}性"},
    "criteria.avoid": {"zh": "回避{organizations}"},
    # --- open demands for a registered product ----------------------------------------
    "demands.heading": {"zh": "以下公开采购需求与您的产品匹配："},
    "demands.line": {"zh": "{number}. {title}（{buyer}，编号 {demand_id}）"},
    "demands.published_title": {"zh": "采购{product}"},
    "demands.published_buyer": {"zh": "（经助手发布）"},
    "demands.reason.same_product": {"zh": "需求产品与您的产品一致"},
    "demands.reason.same_category": {"zh": "同属 {category}"},
    "demands.reason.same_major": {"zh": "同属 {major} 大类"},
    "demands.reason.quantity": {"zh": "数量：{quantity}{unit}"},
    "demands.reason.quantity_open": {"zh": "数量：面议"},
    "demands.reason.region": {"zh": "地区要求：{region}"},
    "demands.reason.deadline": {"zh": "截止：{deadline}"},
    "demands.reason.no_deadline": {"zh": "截止：未定"},
    # --- the summary of a demand or product before it is stored -------------------------
    "publishing.requirement.certification": {"zh": "需具备{certification}认证"},
    "publishing.summary.none": {"zh": "无"},
    # --- why a demand or product could not be stored ----------------------------------
    "publishing.product_missing": {"zh": "请说明需要采购的产品"},
    "publishing.quantity_not_positive": {"zh": "采购数量应为正数"},
    "publishing.region_invalid": {"zh": "地区偏好应为 四川、重庆 或 不限"},
    "publishing.deadline_past": {"zh": "截止日期不能早于今天"},
    "publishing.buyer_contact_missing": {"zh": "请留下手机号、座机或邮箱，方便供应商联系"},
    "publishing.product_name_missing": {"zh": "请说明产品名称"},
    "publishing.company_missing": {"zh": "请说明企业名称"},
    "publishing.supplier_region_invalid": {"zh": "企业所在地应为 四川 或 重庆"},
    "publishing.capacity_not_positive": {"zh": "年产能应为正数"},
    "publishing.supplier_contact_missing": {"zh": "请留下手机号、座机或邮箱，方便采购方联系"},
    # --- button titles that code composes ---------------------------------------------
    "button.more": {"zh": "更多"},
    "button.next_batch": {"zh": "换一批"},
    "button.only_region": {"zh": "只要{region}的"},
    "button.only_local": {"zh": "只要本地的"},
    "button.require_iatf": {"zh": "要有IATF 16949"},
    "button.contact_expert": {"zh": "联系{name}"},
    "button.find_suppliers": {"zh": "找供应商"},
    "button.find_experts": {"zh": "找专家"},
}


def user_text(key: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The text of ``key`` in ``language`` (Chinese if it has none), filled with ``values``.

    Raises ``KeyError`` for a key that is not in the catalogue.
    """
    texts = CATALOGUE[key]
    template = texts.get(language) or texts[DEFAULT_LANGUAGE]
    return template.format(**values)


def join_list(items: Iterable[str], language: str = DEFAULT_LANGUAGE) -> str:
    """``["重庆大学", "四川大学"]`` → ``重庆大学、四川大学`` (the language's list separator)."""
    return user_text("list.separator", language).join(items)


def join_clauses(items: Iterable[str], language: str = DEFAULT_LANGUAGE) -> str:
    """Join short clauses (a match's reasons) with the language's clause separator."""
    return user_text("list.clause_separator", language).join(items)


def placeholders(template: str) -> Set[str]:
    """The names a template fills in, e.g. ``{"length", "limit"}``."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def catalogue_problems(languages: Iterable[str] = LANGUAGES) -> Dict[str, str]:
    """``{key: problem}`` for keys missing a language or whose translations disagree
    on placeholders (empty when the catalogue is consistent)."""
    problems: Dict[str, str] = {}
    for key, texts in CATALOGUE.items():
        missing = [language for language in languages if not texts.get(language)]
        if missing:
            problems[key] = f"no text in {', '.join(missing)}"
            continue
        expected = placeholders(texts[DEFAULT_LANGUAGE])
        for language, template in texts.items():
            if placeholders(template) != expected:
                problems[key] = f"{language} fills {sorted(placeholders(template))}, not {sorted(expected)}"
    return problems
