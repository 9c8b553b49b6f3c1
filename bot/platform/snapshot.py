"""An in-memory, read-only copy of the active platform data, for fast matching.

Loaded in one pass of plain SELECTs (no ORM objects) and kept by the matching
index until ``data_version`` changes. Retired rows are left out; so are products
and demands of retired companies.

The copy is kept small, since every action server holds one (tens of thousands of
rows): records have slots instead of a dict each, and a value many rows repeat (a
city, a category, a list of fields, the company id of a product) is one object for
all of them instead of one string per row as the database driver returns them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Hashable, List, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.platform.db import data_version
from bot.platform.models import Company, Demand, Expert, Product


def split_list(value: str) -> Tuple[str, ...]:
    """``"a;b"`` → ``("a", "b")`` (the export's list columns)."""
    return tuple(item for item in (value or "").split(";") if item)


@dataclass(frozen=True, slots=True)
class CompanyRecord:
    company_id: str
    name: str
    region: str
    city: str
    district: str
    industry_chain: str
    role: str
    certifications: FrozenSet[str]
    employees: int


@dataclass(frozen=True, slots=True)
class ProductRecord:
    product_id: str
    company_id: str
    name: str
    category: str
    major: str
    minor: str
    keywords: FrozenSet[str]
    annual_capacity: int
    unit: str


@dataclass(frozen=True, slots=True)
class DemandRecord:
    demand_id: str
    company_id: str
    title: str
    category: str
    quantity: int
    unit: str
    target_region: str
    deadline: dt.date | None
    status: str


@dataclass(frozen=True, slots=True)
class ExpertRecord:
    """An expert as matching sees it: no e-mail or phone (never shown in chat)."""

    expert_id: str
    name: str
    title_level: str
    title: str
    organization: str
    org_type: str
    region: str
    city: str
    gender: str
    fields: Tuple[str, ...]
    research_areas: Tuple[str, ...]
    honors: Tuple[str, ...]
    review_count: int
    available: bool


@dataclass(frozen=True)
class Withdrawn:
    """Rows that an index built earlier may still hold but must no longer offer: retired
    companies, products, demands and experts, and experts no longer available."""

    companies: FrozenSet[str] = frozenset()
    products: FrozenSet[str] = frozenset()
    demands: FrozenSet[str] = frozenset()
    experts: FrozenSet[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.companies or self.products or self.demands or self.experts)


def load_withdrawn(session: Session) -> Withdrawn:
    """Every retired id (and every unavailable expert): one pass per table."""
    return Withdrawn(
        companies=frozenset(session.scalars(select(Company.company_id).where(Company.retired.is_(True)))),
        products=frozenset(session.scalars(select(Product.product_id).where(Product.retired.is_(True)))),
        demands=frozenset(session.scalars(select(Demand.demand_id).where(Demand.retired.is_(True)))),
        experts=frozenset(session.scalars(
            select(Expert.expert_id).where(Expert.retired.is_(True) | Expert.available.is_(False))
        )),
    )


def split_category(category: str) -> Tuple[str, str]:
    """``"车轮/轮毂"`` → ``("车轮", "轮毂")``; ``"整车"`` → ``("整车", "")``."""
    major, _, minor = category.partition("/")
    return major, minor


@dataclass
class Snapshot:
    version: int
    companies: Dict[str, CompanyRecord]
    products: List[ProductRecord]
    demands: List[DemandRecord]
    experts: List[ExpertRecord]


def load_snapshot(session: Session) -> Snapshot:
    """Read every active company, product, demand and expert."""
    version = data_version(session)
    # One object per distinct value (see the module docstring).
    shared_values: Dict[Hashable, Any] = {}
    share = shared_values.setdefault

    def shared_list(value: str) -> Tuple[str, ...]:
        items = tuple(share(item, item) for item in split_list(value))
        return share(items, items)

    def shared_set(value: str) -> FrozenSet[str]:
        items = frozenset(share(item, item) for item in split_list(value))
        return share(items, items)

    companies = {
        row.company_id: CompanyRecord(
            share(row.company_id, row.company_id), row.name, share(row.region, row.region),
            share(row.city, row.city), share(row.district, row.district),
            share(row.industry_chain, row.industry_chain), share(row.role, row.role),
            shared_set(row.certifications), row.employees or 0,
        )
        for row in session.execute(
            select(Company.company_id, Company.name, Company.region, Company.city, Company.district,
                   Company.industry_chain, Company.role, Company.certifications, Company.employees)
            .where(Company.retired.is_(False))
        )
    }
    products = []
    for row in session.execute(
        select(Product.product_id, Product.company_id, Product.name, Product.category, Product.keywords,
               Product.annual_capacity, Product.unit)
        .where(Product.retired.is_(False)).order_by(Product.product_id)
    ):
        if row.company_id in companies:
            major, minor = split_category(row.category)
            products.append(ProductRecord(
                row.product_id, companies[row.company_id].company_id, share(row.name, row.name),
                share(row.category, row.category), share(major, major), share(minor, minor),
                shared_set(row.keywords), row.annual_capacity or 0, share(row.unit, row.unit),
            ))
    demands = [
        DemandRecord(row.demand_id, companies[row.company_id].company_id, row.title,
                     share(row.category, row.category), row.quantity or 0, share(row.unit, row.unit),
                     share(row.target_region, row.target_region), row.deadline, share(row.status, row.status))
        for row in session.execute(
            select(Demand.demand_id, Demand.company_id, Demand.title, Demand.category, Demand.quantity,
                   Demand.unit, Demand.target_region, Demand.deadline, Demand.status)
            .where(Demand.retired.is_(False)).order_by(Demand.demand_id)
        )
        if row.company_id in companies
    ]
    experts = [
        ExpertRecord(
            row.expert_id, row.name, share(row.title_level, row.title_level), share(row.title, row.title),
            share(row.organization, row.organization), share(row.org_type, row.org_type),
            share(row.region, row.region), share(row.city, row.city), share(row.gender, row.gender),
            shared_list(row.fields), shared_list(row.research_areas), shared_list(row.honors),
            row.review_count or 0, bool(row.available),
        )
        for row in session.execute(
            select(Expert.expert_id, Expert.name, Expert.title_level, Expert.title, Expert.organization,
                   Expert.org_type, Expert.region, Expert.city, Expert.gender, Expert.fields,
                   Expert.research_areas, Expert.honors, Expert.review_count, Expert.available)
            .where(Expert.retired.is_(False)).order_by(Expert.expert_id)
        )
    ]
    return Snapshot(version, companies, products, demands, experts)
