"""SQLAlchemy models of the platform data (export format: ``docs/platform-export-format.md``).

Two kinds of tables live here:

* rows imported from the platforms' export (``companies``, ``products``, ``demands``,
  ``experts``): keyed by the export's own ids, never deleted — a row that disappears
  from a newer export is marked ``retired`` so that requests referring to it stay
  readable;
* rows the assistant creates (``expert_contact_requests``, ``published_demands``,
  ``registered_products``): staff see and handle them in the console.

``platform_meta`` holds ``data_version``, bumped whenever the matching data changes,
so that every process holding an in-memory matching index knows when to reload.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import declarative_base

# SQLAlchemy 1.4 ships no type information: to the type checker the models are untyped.
Base: Any = declarative_base()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Company(Base):
    """A company of the supply–demand platform (supplier or buyer)."""

    __tablename__ = "companies"

    company_id = Column(String(64), primary_key=True)
    name = Column(String(200), nullable=False, index=True)
    region = Column(String(16), nullable=False)
    city = Column(String(32), nullable=False)
    district = Column(String(32), nullable=False, default="")
    industry_chain = Column(String(32), nullable=False, default="")
    role = Column(String(32), nullable=False, default="")
    #: ``;``-separated, canonical spelling (``IATF 16949;ISO 9001``).
    certifications = Column(Text, nullable=False, default="")
    employees = Column(Integer)
    founded_year = Column(Integer)
    contact_name = Column(String(64), nullable=False, default="")
    contact_phone = Column(String(64), nullable=False, default="")
    contact_email = Column(String(200), nullable=False, default="")
    description = Column(Text, nullable=False, default="")
    retired = Column(Boolean, nullable=False, default=False)
    imported_at = Column(DateTime, nullable=False, default=_utcnow)


class Product(Base):
    """A product a supplier offers."""

    __tablename__ = "products"

    product_id = Column(String(64), primary_key=True)
    company_id = Column(String(64), ForeignKey("companies.company_id"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    #: ``大类/小类`` path, e.g. ``车轮/轮毂``.
    category = Column(String(100), nullable=False)
    keywords = Column(Text, nullable=False, default="")
    annual_capacity = Column(BigInteger)
    unit = Column(String(16), nullable=False, default="")
    description = Column(Text, nullable=False, default="")
    retired = Column(Boolean, nullable=False, default=False)
    imported_at = Column(DateTime, nullable=False, default=_utcnow)


class Demand(Base):
    """A purchasing demand published on the platform by a buyer."""

    __tablename__ = "demands"

    demand_id = Column(String(64), primary_key=True)
    company_id = Column(String(64), ForeignKey("companies.company_id"), nullable=False, index=True)
    title = Column(String(200), nullable=False)
    category = Column(String(100), nullable=False)
    quantity = Column(BigInteger)
    unit = Column(String(16), nullable=False, default="")
    target_region = Column(String(16), nullable=False)
    deadline = Column(Date)
    status = Column(String(16), nullable=False)
    description = Column(Text, nullable=False, default="")
    published_at = Column(Date)
    retired = Column(Boolean, nullable=False, default=False)
    imported_at = Column(DateTime, nullable=False, default=_utcnow)


class Expert(Base):
    """An expert of the shared Sichuan–Chongqing expert database."""

    __tablename__ = "experts"

    expert_id = Column(String(64), primary_key=True)
    name = Column(String(64), nullable=False)
    gender = Column(String(8), nullable=False, default="")
    title_level = Column(String(16), nullable=False)
    title = Column(String(32), nullable=False, default="")
    organization = Column(String(200), nullable=False, index=True)
    org_type = Column(String(16), nullable=False, default="")
    region = Column(String(16), nullable=False)
    city = Column(String(32), nullable=False)
    fields = Column(Text, nullable=False, default="")
    research_areas = Column(Text, nullable=False, default="")
    honors = Column(Text, nullable=False, default="")
    review_count = Column(Integer, nullable=False, default=0)
    available = Column(Boolean, nullable=False)
    #: Personal data: shown to staff only, never in chat.
    email = Column(String(200), nullable=False, default="")
    #: Personal data; the export may carry it (optional column ``phone``).
    phone = Column(String(64), nullable=False, default="")
    retired = Column(Boolean, nullable=False, default=False)
    imported_at = Column(DateTime, nullable=False, default=_utcnow)


class ExpertContactRequest(Base):
    """A chat user's request to be put in touch with an expert; staff arrange it."""

    __tablename__ = "expert_contact_requests"

    id = Column(Integer, primary_key=True, autoincrement=True)
    expert_id = Column(String(64), ForeignKey("experts.expert_id"), nullable=False, index=True)
    #: The conversation (Rasa sender id) that asked, so staff can answer there.
    sender_id = Column(String(200), nullable=False, default="")
    channel = Column(String(32), nullable=False, default="")
    requester_organization = Column(String(200), nullable=False, default="")
    requester_contact = Column(String(200), nullable=False, default="")
    purpose = Column(Text, nullable=False, default="")
    #: Always ``new`` here; the staff console keeps its own done-state (bot/console/tasks.py).
    status = Column(String(16), nullable=False, default="new")
    created_at = Column(DateTime, nullable=False, default=_utcnow)


class PublishedDemand(Base):
    """A demand a buyer published through the assistant."""

    __tablename__ = "published_demands"

    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(200), nullable=False, default="")
    channel = Column(String(32), nullable=False, default="")
    company_name = Column(String(200), nullable=False, default="")
    product = Column(String(200), nullable=False)
    #: Platform category the product text was understood as ('' when unknown).
    category = Column(String(100), nullable=False, default="")
    quantity = Column(BigInteger)
    unit = Column(String(16), nullable=False, default="")
    target_region = Column(String(16), nullable=False, default="不限")
    deadline = Column(Date)
    contact = Column(String(200), nullable=False, default="")
    #: Further requirements the buyer gave (「需要IATF 16949认证」), '' when none.
    requirements = Column(Text, nullable=False, default="", server_default="")
    #: ``open`` while staff have not closed it.
    status = Column(String(16), nullable=False, default="open")
    created_at = Column(DateTime, nullable=False, default=_utcnow)


class RegisteredProduct(Base):
    """A product a supplier registered through the assistant."""

    __tablename__ = "registered_products"

    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(200), nullable=False, default="")
    channel = Column(String(32), nullable=False, default="")
    company_name = Column(String(200), nullable=False, default="")
    product = Column(String(200), nullable=False)
    category = Column(String(100), nullable=False, default="")
    annual_capacity = Column(BigInteger)
    unit = Column(String(16), nullable=False, default="")
    region = Column(String(16), nullable=False, default="")
    city = Column(String(32), nullable=False, default="")
    contact = Column(String(200), nullable=False, default="")
    #: ``new`` until staff review it.
    status = Column(String(16), nullable=False, default="new")
    created_at = Column(DateTime, nullable=False, default=_utcnow)


class PlatformMeta(Base):
    """Key/value bookkeeping (``data_version``)."""

    __tablename__ = "platform_meta"

    key = Column(String(64), primary_key=True)
    value = Column(String(200), nullable=False)


Index("ix_products_name", Product.name)
Index("ix_experts_available", Expert.available, Expert.retired)

#: Imported tables by export file stem, in import order (companies first: FKs).
IMPORTED_MODELS: Dict[str, Any] = {
    "companies": Company,
    "products": Product,
    "demands": Demand,
    "experts": Expert,
}
