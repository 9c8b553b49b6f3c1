"""Documented query functions over the platform database (for actions and the console).

Every function takes an open ``Session`` (see ``bot.platform.db.session_scope``) and
leaves committing to the caller. Chat-facing functions never return experts' or
companies' personal contact data; the ``*_for_staff`` ones do, for the console.
"""
from __future__ import annotations

import datetime as dt
from typing import Dict, List, Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.messages import DEFAULT_LANGUAGE, user_text
from bot.platform.models import (
    Company,
    Demand,
    Expert,
    ExpertContactRequest,
    Product,
    PublishedDemand,
    RegisteredProduct,
)

_MAX_TEXT = 500


class RequestError(ValueError):
    """A request the assistant was asked to store is not valid.

    Raised with the catalogue key of the reason (:mod:`bot.messages`) and its values, so
    the reason can be told in the user's language (:meth:`reason`); ``str()`` is Chinese.
    """

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(user_text(key, DEFAULT_LANGUAGE, **values))
        self.key = key
        self.values = values

    def reason(self, language: str = DEFAULT_LANGUAGE) -> str:
        """Why the request was refused, in ``language``."""
        return user_text(self.key, language, **self.values)


def platform_counts(session: Session) -> Dict[str, Dict[str, int]]:
    """``{"companies": {"active": n, "retired": m}, …}`` for the four imported tables."""
    counts = {}
    for name, model in (("companies", Company), ("products", Product), ("demands", Demand), ("experts", Expert)):
        rows = session.execute(select(model.retired, func.count()).group_by(model.retired)).all()
        by_flag = {bool(flag): n for flag, n in rows}
        counts[name] = {"active": by_flag.get(False, 0), "retired": by_flag.get(True, 0)}
    return counts


def get_company(session: Session, company_id: str) -> Optional[Company]:
    """The company with the export id ``company_id`` (retired ones included), or ``None``."""
    return session.get(Company, company_id)


def get_expert_public(session: Session, expert_id: str) -> Optional[Dict[str, object]]:
    """What chat may show about an active expert (no e-mail, no phone), or ``None``."""
    expert = session.get(Expert, expert_id)
    if expert is None or expert.retired:
        return None
    return {
        "expert_id": expert.expert_id, "name": expert.name, "title": expert.title,
        "title_level": expert.title_level, "organization": expert.organization,
        "region": expert.region, "city": expert.city, "fields": expert.fields,
        "research_areas": expert.research_areas, "honors": expert.honors,
        "available": expert.available,
    }


def check_expert_contactable(session: Session, expert_id: str, avoided_organizations: Sequence[str] = ()) -> Expert:
    """The expert, if a chat user may ask to be put in touch: active, available and not
    of (or related to) one of ``avoided_organizations`` (回避). Otherwise raises
    :class:`RequestError` with a reason that does not name the expert."""
    from bot.platform.matching import related_organizations

    expert = session.get(Expert, expert_id)
    if expert is None or expert.retired:
        raise RequestError("experts.unknown")
    if not expert.available:
        raise RequestError("experts.unavailable")
    avoided = [name for name in avoided_organizations if name]
    if avoided and expert.organization in related_organizations(avoided, [expert.organization]):
        raise RequestError("experts.contact_avoided")
    return expert


def create_expert_contact_request(
    session: Session,
    expert_id: str,
    *,
    sender_id: str,
    channel: str = "",
    requester_organization: str = "",
    requester_contact: str = "",
    purpose: str = "",
    avoided_organizations: Sequence[str] = (),
) -> ExpertContactRequest:
    """Store a chat user's request to be put in touch with an expert (staff arrange it).

    Raises :class:`RequestError` when the expert is unknown, retired, not available, or
    related to the requester's organisation or one of ``avoided_organizations``.
    """
    check_expert_contactable(session, expert_id, [requester_organization, *avoided_organizations])
    request = ExpertContactRequest(
        expert_id=expert_id, sender_id=sender_id[:200], channel=channel[:32],
        requester_organization=requester_organization[:200], requester_contact=requester_contact[:200],
        purpose=purpose[:_MAX_TEXT], status="new",
    )
    session.add(request)
    session.flush()
    return request


def list_expert_contact_requests_for_staff(
    session: Session, status: Optional[str] = None, limit: int = 100
) -> List[Dict[str, object]]:
    """Newest contact requests with the expert's contact data (console only)."""
    statement = (
        select(ExpertContactRequest, Expert)
        .join(Expert, Expert.expert_id == ExpertContactRequest.expert_id)
        .order_by(ExpertContactRequest.created_at.desc(), ExpertContactRequest.id.desc())
        .limit(limit)
    )
    if status:
        statement = statement.where(ExpertContactRequest.status == status)
    return [
        {
            "id": request.id, "status": request.status, "created_at": request.created_at,
            "sender_id": request.sender_id, "channel": request.channel,
            "requester_organization": request.requester_organization,
            "requester_contact": request.requester_contact, "purpose": request.purpose,
            "expert_id": expert.expert_id, "expert_name": expert.name, "expert_title": expert.title,
            "expert_organization": expert.organization, "expert_email": expert.email,
            "expert_phone": expert.phone,
        }
        for request, expert in session.execute(statement)
    ]


def list_published_demands(
    session: Session, status: Optional[str] = None, limit: int = 100
) -> List[PublishedDemand]:
    """Demands published through the assistant, newest first."""
    newest_first = (PublishedDemand.created_at.desc(), PublishedDemand.id.desc())
    statement = select(PublishedDemand).order_by(*newest_first).limit(limit)
    if status:
        statement = statement.where(PublishedDemand.status == status)
    return list(session.scalars(statement))


def list_registered_products(
    session: Session, status: Optional[str] = None, limit: int = 100
) -> List[RegisteredProduct]:
    """Products registered through the assistant, newest first."""
    newest_first = (RegisteredProduct.created_at.desc(), RegisteredProduct.id.desc())
    statement = select(RegisteredProduct).order_by(*newest_first).limit(limit)
    if status:
        statement = statement.where(RegisteredProduct.status == status)
    return list(session.scalars(statement))


def open_published_demands(session: Session, today: dt.date) -> List[PublishedDemand]:
    """Open demands published through the assistant whose deadline has not passed."""
    return list(session.scalars(
        select(PublishedDemand)
        .where(PublishedDemand.status == "open")
        .where((PublishedDemand.deadline.is_(None)) | (PublishedDemand.deadline >= today))
        .order_by(PublishedDemand.id)
    ))
