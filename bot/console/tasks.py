"""Tasks for staff: what the assistant created in the platform data.

Expert-contact requests, published demands and registered products are rows of the
platform database (``bot.platform``), read through its query functions
(``bot.platform.queries``). Whether staff handled one is kept in the handoff store
(``handoff_task_status``): a demand stays open for matching after staff followed it
up, so "done" is the console's own fact, and the console never writes to the
platform's tables.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Dict, List, Optional

from bot.handoff.store import HandoffStore

logger = logging.getLogger(__name__)

#: Task kinds, their Chinese label, and how to present a row of each.
TASK_KINDS = {
    "expert_contact": "专家联络请求",
    "published_demand": "发布的需求",
    "registered_product": "登记的产品",
}


def _when(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat(timespec="seconds") if value else None


def _expert_contact(row: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": f"联系专家 {row['expert_name']}（{row['expert_organization']}）",
        "details": {
            "专家": f"{row['expert_name']} {row['expert_title']}（编号 {row['expert_id']}）",
            "专家电话": row["expert_phone"],
            "专家邮箱": row["expert_email"],
            "申请单位": row["requester_organization"],
            "申请人联系方式": row["requester_contact"],
            "用途": row["purpose"],
        },
        "sender_id": row["sender_id"],
        "channel": row["channel"],
        "created_at": _when(row["created_at"]),
    }


def _published_demand(row: Any) -> Dict[str, Any]:
    quantity = f"{row.quantity}{row.unit}" if row.quantity is not None else ""
    return {
        "id": str(row.id),
        "title": f"{row.company_name or '企业'} 采购 {row.product}",
        "details": {
            "企业": row.company_name,
            "产品": row.product,
            "数量": quantity,
            "地区偏好": row.target_region,
            "截止日期": row.deadline.isoformat() if row.deadline else "",
            "其他要求": row.requirements,
            "联系方式": row.contact,
        },
        "sender_id": row.sender_id,
        "channel": row.channel,
        "created_at": _when(row.created_at),
    }


def _registered_product(row: Any) -> Dict[str, Any]:
    capacity = f"{row.annual_capacity}{row.unit}/年" if row.annual_capacity is not None else ""
    return {
        "id": str(row.id),
        "title": f"{row.company_name or '企业'} 登记产品 {row.product}",
        "details": {
            "企业": row.company_name,
            "产品": row.product,
            "类别": row.category,
            "年产能": capacity,
            "地区": f"{row.region}{row.city}",
            "联系方式": row.contact,
        },
        "sender_id": row.sender_id,
        "channel": row.channel,
        "created_at": _when(row.created_at),
    }


class TaskBoard:
    """Lists the platform's assistant-created rows with their done state."""

    def __init__(self, store: HandoffStore, platform_url: Optional[str] = None, limit: int = 300) -> None:
        self.store = store
        self.platform_url = platform_url
        self.limit = limit

    @staticmethod
    def _sources() -> Dict[str, tuple]:
        """kind → (model, list function of bot.platform.queries, presenter)."""
        from bot.platform import models, queries

        return {
            "expert_contact": (
                models.ExpertContactRequest,
                queries.list_expert_contact_requests_for_staff,
                _expert_contact,
            ),
            "published_demand": (models.PublishedDemand, queries.list_published_demands, _published_demand),
            "registered_product": (models.RegisteredProduct, queries.list_registered_products, _registered_product),
        }

    def list(self) -> Dict[str, Any]:
        """Every task kind with its items, open ones first, newest first."""
        from sqlalchemy.exc import SQLAlchemyError

        from bot.platform.db import session_scope

        result: Dict[str, Any] = {"kinds": [], "error": None}
        try:
            with session_scope(self.platform_url) as session:
                for kind, (_, list_rows, present) in self._sources().items():
                    rows = list_rows(session, limit=self.limit)
                    done = self.store.done_tasks(kind)
                    items: List[Dict[str, Any]] = []
                    for row in rows:
                        item = present(row)
                        item["done"] = done.get(item["id"])
                        items.append(item)
                    items.sort(key=lambda i: i["done"] is not None)
                    result["kinds"].append({"kind": kind, "label": TASK_KINDS[kind], "items": items})
        except SQLAlchemyError as error:
            logger.error("could not read platform tasks: %s", error)
            result["error"] = "平台数据暂时无法读取。"
        return result

    def mark_done(self, kind: str, item_id: str, staff_name: str) -> None:
        """Mark one task done. KeyError for an unknown kind or item."""
        from bot.platform.db import session_scope

        sources = self._sources()
        if kind not in sources:
            raise KeyError(f"unknown task kind {kind!r}")
        model = sources[kind][0]
        if not item_id.isdigit():
            raise KeyError(f"no {kind} {item_id!r}")
        with session_scope(self.platform_url) as session:
            if session.get(model, int(item_id)) is None:
                raise KeyError(f"no {kind} {item_id!r}")
        self.store.mark_task_done(kind, item_id, staff_name)


__all__ = ["TaskBoard", "TASK_KINDS"]
