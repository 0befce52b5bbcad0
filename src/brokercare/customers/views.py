"""Customer and profile endpoints under ``/api/v1``: staff search and read customers; a customer
user reads only their own record. Every value is shown whole only to roles cleared for its data
class, and staff read one customer only while a relationship with them holds
(:mod:`brokercare.security.access`, ledgered); personal data goes through
:func:`brokercare.customers.pii.customer_pii` (masking and the audit ledger)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import NotFound
from brokercare.core.problems import errors
from brokercare.customers import handlers, service
from brokercare.customers.features import BY_NAME, FEATURES
from brokercare.customers.models import Customer
from brokercare.customers.pii import customer_pii
from brokercare.customers.schemas import (
    CustomerDetail,
    CustomerPage,
    CustomerPII,
    CustomerSummary,
    FeatureOut,
    ProfileOut,
    TagOut,
    TierChangeOut,
)
from brokercare.security.access import ReadLog, customer_reader
from brokercare.security.policy import (
    STAFF_ROLES,
    Principal,
    current_user,
    data_class_of,
    readable,
    require_roles,
    step_up_reveal,
)
from brokercare.security.service import mask_name


def startup() -> None:
    """Keep profiles fresh: subscribe the incremental refresh to the bus's events."""
    handlers.subscribe()


router = APIRouter(tags=["customers"])


def _summary(user: Principal, c: Customer) -> CustomerSummary:
    name = c.name if readable(user, c.id, data_class_of("name")) else mask_name(c.name)
    return CustomerSummary(id=c.id, customer_no=c.customer_no, name=name, gender=c.gender, city=c.city,
                           branch_code=c.branch_code, status=c.status, risk_level=c.risk_level,
                           opened_on=c.opened_on)


@router.get("/customers", response_model=CustomerPage, summary="Search customers (staff)",
            responses=errors({429: "Too many searches this minute: retry after a minute"}))
def search_customers(
    q: str = Query("", max_length=40, description="Exact customer number, full name, mobile or ID number "
                                                 "(searches are rate limited and ledgered)."),
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0),
    user: Principal = Depends(require_roles(*STAFF_ROLES)),
    session: Session = Depends(get_session),
) -> CustomerPage:
    items, total = service.search_customers(session, q, limit=limit, offset=offset, searcher=user)
    session.commit()  # the search is ledgered before its answer leaves
    return CustomerPage(items=[_summary(user, c) for c in items], total=total, limit=limit, offset=offset)


@router.get("/customers/{customer_id}", response_model=CustomerDetail, summary="One customer")
def get_customer(
    customer_id: int,
    reveal: bool = Depends(step_up_reveal),
    user: Principal = Depends(current_user),
    reads: ReadLog = Depends(customer_reader("customer")),
    session: Session = Depends(get_session),
) -> CustomerDetail:
    c = service.get_customer(session, customer_id)
    withheld: list[str] = []

    def shown(field: str, value: object) -> object:
        if readable(user, customer_id, data_class_of(field), reveal=reveal):
            return value
        withheld.append(field)
        return None

    detail = dict(
        **_summary(user, c).model_dump(), province=c.province, occupation=c.occupation,
        investor_type=c.investor_type, manager_id=c.manager_id,
        birth_date=shown("birth_date", c.birth_date), education=shown("education", c.education),
        annual_income=shown("annual_income", c.annual_income),
        marital_status=shown("marital_status", c.marital_status),
    )
    pii = customer_pii(session, user, c, reveal=reveal, reads=reads)
    return CustomerDetail(**detail, pii=pii, withheld=withheld)


@router.get("/customers/{customer_id}/profile", response_model=ProfileOut,
            summary="Profile: features, tags, tier, life stage and masked personal data")
def get_profile(
    customer_id: int,
    reveal: bool = Depends(step_up_reveal),
    user: Principal = Depends(current_user),
    reads: ReadLog = Depends(customer_reader("profile")),
    session: Session = Depends(get_session),
) -> ProfileOut:
    customer = service.get_customer(session, customer_id)
    profile = service.get_profile(session, customer_id)
    features, withheld = {}, []
    for name, value in profile.features.items():
        if readable(user, customer_id, BY_NAME[name].data_class, reveal=reveal):
            features[name] = value
        else:
            withheld.append(name)
    aum_ok = readable(user, customer_id, data_class_of("aum"), reveal=reveal)
    pii = customer_pii(session, user, customer, reveal=reveal, reads=reads)
    return ProfileOut(
        customer_id=customer_id, customer_no=customer.customer_no, tier=profile.tier,
        tier_label=profile.tier_label, high_net_worth=profile.high_net_worth,
        aum=profile.aum if aum_ok else None, life_stage=profile.life_stage,
        tags=[TagOut(key=t.key, label=t.label, description=t.description) for t in profile.tags],
        features=features, withheld_features=withheld, computed_at=profile.computed_at,
        stored=profile.stored, pii=pii,
    )


@router.get("/customers/{customer_id}/tier-history", response_model=list[TierChangeOut],
            summary="Tier changes, oldest first")
def tier_history(
    customer_id: int,
    user: Principal = Depends(current_user),
    _: ReadLog = Depends(customer_reader("tier_history")),
    session: Session = Depends(get_session),
) -> list[TierChangeOut]:
    aum_ok = readable(user, customer_id, data_class_of("aum"))
    return [TierChangeOut(from_tier=t.from_tier, to_tier=t.to_tier, aum=t.aum if aum_ok else None,
                          changed_at=t.changed_at, reason=t.reason)
            for t in service.tier_history(session, customer_id)]


@router.get("/profiles/features", response_model=list[FeatureOut], summary="The feature registry")
def feature_registry(_: Principal = Depends(require_roles(*STAFF_ROLES))) -> list[FeatureOut]:
    return [FeatureOut(**f.__dict__) for f in FEATURES]


@router.get("/security/customers/{customer_id}/pii", response_model=CustomerPII,
            summary="A customer's personal data, masked unless the caller's role is cleared")
def pii(
    customer_id: int,
    reveal: bool = Depends(step_up_reveal),
    session: Session = Depends(get_session),
    user: Principal = Depends(current_user),
    reads: ReadLog = Depends(customer_reader("pii")),
) -> dict:
    """``reason`` (the read's query parameter) is recorded with the values' hashes."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer_pii(session, user, customer, reveal=reveal, reason=reads.reason, reads=reads)
