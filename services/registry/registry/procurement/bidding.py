"""The arithmetic of procurement: what a procurement must publish, what makes a bid invalid
(无效投标), how bids are scored, and the contract an award drafts. Pure functions."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any

from registry.domainmodel.policy import DEFAULT_POLICY
from registry.procurement.domainmodel import INVITED, METHODS, SINGLE_SOURCE
from shared.rules import RuleViolation


def policy_value(policy: dict[str, Any], name: str) -> Any:
    """A county policy parameter; a policy recorded before the parameter existed has its default."""
    return policy.get(name, DEFAULT_POLICY[name])


def family_centre_standard(policy: dict[str, Any], policy_version: int | None = None) -> dict[str, Any]:
    """The family-centre standard of the county's policy in force when a procurement opens
    (R-LOG-4, R-FIN-10). Recorded with each family-centre package, so that the bids of that
    procurement are judged by the standard it published, whatever the policy becomes later.
    Guangzhou (seed 004) is the default: 1,960 h and 1,632.3 direct hours per professional a
    year, a bid at most 110% of the total, 2,000,000 yuan a year with one more professional per
    further 100,000 yuan."""
    return {
        "hours_per_professional": policy_value(policy, "annual_hours_per_staff"),  # R-LOG-4
        "direct_hours_per_professional": str(policy_value(policy, "annual_direct_hours_per_staff")),  # R-LOG-4
        "ceiling_percent": policy_value(policy, "hours_ceiling_percent"),  # R-LOG-4
        "standard_annual_fen": policy_value(policy, "standard_budget_fen"),  # R-FIN-10
        "fen_per_extra_professional": policy_value(policy, "extra_worker_per_fen"),  # R-FIN-10
        "policy_version": policy_version,
    }


def hours_window(professionals: int, standard: dict[str, Any]) -> tuple[int, int]:
    """[direct-hours minimum, ceiling] of a bid's planned professional hours (R-LOG-4), whole hours:
    the direct minimum rounded down (14 × 1,632.3 = 22,852.2 → 22,852, as seed 004 writes it)."""
    if "direct_hours_per_professional" in standard:
        direct = Decimal(str(standard["direct_hours_per_professional"]))
    else:  # recorded before the standard came from county policy: tenths of an hour
        direct = Decimal(standard["direct_tenth_hours_per_professional"]) / 10
    direct_min = int((professionals * direct).to_integral_value(rounding=ROUND_FLOOR))
    ceiling = professionals * standard["hours_per_professional"] * standard["ceiling_percent"] // 100
    return direct_min, ceiling


def hours_standard(professionals: int, standard: dict[str, Any]) -> dict[str, int]:
    """What a package's standard means for ``professionals`` (the published hours targets)."""
    low, high = hours_window(professionals, standard)
    return {
        "professionals": professionals,
        "annual_hours_target": professionals * standard["hours_per_professional"],
        "annual_hours_ceiling": high,
        "annual_direct_hours_minimum": low,
    }


def allowed_professionals(required: int, annual_budget_fen: int, standard: dict[str, Any]) -> int:
    """R-FIN-10: one more professional per full extra amount (policy) above the standard budget."""
    above = max(0, annual_budget_fen - standard["standard_annual_fen"])
    return required + above // standard["fen_per_extra_professional"]


def check_opening(
    method: str,
    single_source_justification: str | None,
    invited_provider_ids: list[str],
    opened_on: date,
    bid_deadline: date,
    packages: list[dict[str, Any]],
    criteria: list[dict[str, Any]],
    project_budget_fen: int,
    policy: dict[str, Any] | None = None,
) -> None:
    """R-PRC-1: method, its conditions, and complete published requirements; the price weight
    within the county policy's range (``policy`` None: the defaults, 10–30)."""
    if method not in METHODS:
        raise RuleViolation(f"method must be one of {METHODS}", rule="R-PRC-1", field="method")
    if method == SINGLE_SOURCE:
        if not (single_source_justification or "").strip():
            raise RuleViolation("单一来源采购 needs a recorded justification", rule="R-PRC-1", field="single_source_justification")
        if len(invited_provider_ids) != 1:
            raise RuleViolation("单一来源采购 names exactly one provider", rule="R-PRC-1", field="invited_provider_ids")
    if method == INVITED and len(set(invited_provider_ids)) < 3:
        raise RuleViolation("邀请招标 invites at least three providers", rule="R-PRC-1", field="invited_provider_ids")
    if bid_deadline < opened_on:
        raise RuleViolation("the bid deadline cannot precede the opening", rule="R-PRC-1", field="bid_deadline")
    if not packages:
        raise RuleViolation("a procurement publishes at least one package", rule="R-PRC-1", field="packages")
    codes = [p["code"] for p in packages]
    if len(set(codes)) != len(codes):
        raise RuleViolation("package codes must be unique", rule="R-PRC-1", field="packages")
    if sum(p["annual_budget_fen"] for p in packages) > project_budget_fen:
        raise RuleViolation(
            f"the packages' annual budgets exceed the approved project budget of {project_budget_fen} fen",
            rule="R-PRC-1",
            field="packages",
        )
    for i, p in enumerate(packages):
        _check_package(i, p, bid_deadline)
    _check_criteria(criteria, policy or DEFAULT_POLICY)


def _check_package(i: int, p: dict[str, Any], bid_deadline: date) -> None:
    at = f"packages.{i}"
    if p["annual_budget_fen"] <= 0:
        raise RuleViolation("a package's annual budget must be positive", rule="R-PRC-1", field=f"{at}.annual_budget_fen")
    if sum(f["amount_fen"] for f in p["funding"]) != p["annual_budget_fen"]:
        raise RuleViolation("funding shares must sum to the annual budget", rule="R-FIN-2", field=f"{at}.funding")
    if p["service_start"] <= bid_deadline:
        raise RuleViolation("service starts after bidding closes", rule="R-PRC-1", field=f"{at}.service_start")
    if not p["station_ids"]:
        raise RuleViolation("a package names the stations it serves", rule="R-PRC-1", field=f"{at}.station_ids")
    items = p["service_items"]
    if not items:
        raise RuleViolation("publish the service items and their quantities", rule="R-PRC-1", field=f"{at}.service_items")
    item_codes = [it["code"] for it in items]
    if len(set(item_codes)) != len(item_codes):
        raise RuleViolation("service item codes must be unique", rule="R-PRC-1", field=f"{at}.service_items")
    for j, it in enumerate(items):
        if it["minimum"] <= 0:
            raise RuleViolation("a minimum quantity must be positive", rule="R-PRC-1", field=f"{at}.service_items.{j}.minimum")
    if p["kind"] == "family_centre" and not (p.get("staffing") or {}).get("professionals"):
        raise RuleViolation(
            "a family-centre package states its professional staff (专业服务人员)",
            rule="R-PRC-1",
            field=f"{at}.staffing.professionals",
        )


def _check_criteria(criteria: list[dict[str, Any]], policy: dict[str, Any]) -> None:
    codes = [c["code"] for c in criteria]
    if not criteria or len(set(codes)) != len(codes):
        raise RuleViolation("publish evaluation criteria with unique codes", rule="R-PRC-1", field="evaluation_criteria")
    for i, c in enumerate(criteria):
        if c["weight"] <= 0:
            raise RuleViolation("weights are positive", rule="R-PRC-1", field=f"evaluation_criteria.{i}.weight")
    total = sum(c["weight"] for c in criteria)
    if total != 100:
        raise RuleViolation(f"criteria weights must sum to 100, not {total}", rule="R-PRC-1", field="evaluation_criteria")
    prices = [i for i, c in enumerate(criteria) if c["kind"] == "price"]
    if len(prices) > 1:
        raise RuleViolation("one price criterion at most", rule="R-PRC-1", field="evaluation_criteria")
    low = policy_value(policy, "price_weight_min_percent")
    high = policy_value(policy, "price_weight_max_percent")
    if not prices:
        raise RuleViolation(
            f"publish a price criterion (价格分) weighing {low}–{high} of 100 (county policy)",
            rule="R-PRC-1",
            field="evaluation_criteria",
        )
    weight = criteria[prices[0]]["weight"]
    if not low <= weight <= high:
        raise RuleViolation(
            f"the price criterion weighs {weight}: county policy allows {low}–{high} of 100 "
            "(价格分值占总分值比重; quality decides, not the lowest price 不以价低者得)",
            rule="R-PRC-1",
            field=f"evaluation_criteria.{prices[0]}.weight",
        )


# --- bids ----------------------------------------------------------------------------
def check_bid(procurement: Any, package: dict[str, Any], bid: dict[str, Any]) -> None:
    """R-PRC-2, R-FIN-10, R-LOG-4: the bid's own terms against the published package."""
    invited = procurement.invited_provider_ids
    if invited and bid["provider_id"] not in invited:
        raise RuleViolation(f"{procurement.method}: the provider was not invited", rule="R-PRC-2", field="provider_id")
    if bid["annual_price_fen"] <= 0:
        raise RuleViolation("the annual price must be positive", rule="R-PRC-2", field="annual_price_fen")
    if bid["annual_price_fen"] > package["annual_budget_fen"]:
        raise RuleViolation(
            f"the annual price exceeds the package's annual budget of {package['annual_budget_fen']} fen",
            rule="R-PRC-2",
            field="annual_price_fen",
        )
    planned = {it["code"]: (i, it["planned"]) for i, it in enumerate(bid["items"])}
    required = {it["code"] for it in package["service_items"]}
    for i, it in enumerate(bid["items"]):
        if it["code"] not in required:
            raise RuleViolation(f"{it['code']!r} is not a service item of the package", rule="R-PRC-2", field=f"items.{i}.code")
    missing = [it["code"] for it in package["service_items"] if it["code"] not in planned]
    if missing:
        raise RuleViolation(f"whole-package bids only: no plan for {missing}", rule="R-PRC-2", field="items")
    for it in package["service_items"]:
        i, quantity = planned[it["code"]]
        if quantity < it["minimum"]:
            raise RuleViolation(
                f"planned {quantity} {it['unit']} of {it['name']} is below the minimum {it['minimum']}",
                rule="R-PRC-2",
                field=f"items.{i}.planned",
            )
    _check_staffing(package, bid.get("staffing"))


def _check_staffing(package: dict[str, Any], staffing: dict[str, Any] | None) -> None:
    required = (package.get("staffing") or {}).get("professionals") or 0
    if not required:
        return
    professionals = (staffing or {}).get("professionals") or 0
    if professionals < required:
        raise RuleViolation(
            f"the package requires at least {required} professional staff", rule="R-PRC-2", field="staffing.professionals"
        )
    if package["kind"] != "family_centre":
        return
    standard = package["standard"]
    allowed = allowed_professionals(required, package["annual_budget_fen"], standard)
    if professionals > allowed:
        raise RuleViolation(
            f"{professionals} professionals (专业服务人员): the package's annual budget of {package['annual_budget_fen']} fen "
            f"allows {allowed} — {required} plus one per {standard['fen_per_extra_professional']} fen above the standard "
            f"{standard['standard_annual_fen']} fen (county policy)",
            rule="R-FIN-10",
            field="staffing.professionals",
        )
    hours = (staffing or {}).get("planned_hours")
    low, high = hours_window(professionals, standard)
    if hours is None or not low <= hours <= high:
        raise RuleViolation(
            f"planned professional hours (年度服务工时) must lie within [{low}, {high}] for {professionals} professionals: "
            f"at least the direct hours {standard.get('direct_hours_per_professional', '')} h each, at most "
            f"{standard['ceiling_percent']}% of {standard['hours_per_professional']} h each (county policy); otherwise 无效投标",
            rule="R-LOG-4",
            field="staffing.planned_hours",
        )


# --- award ---------------------------------------------------------------------------
def score_bids(
    criteria: list[dict[str, Any]], bids: list[dict[str, Any]], panel: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """R-PRC-3: weighted total per bid, best first. The panel scores every quality criterion
    0–100; price scores 100 × 基准价 (the lowest valid price) / the bid's price."""
    if not bids:
        raise RuleViolation("no valid bid to award", rule="R-PRC-3", field="package")
    by_id = {b["bid_id"]: b for b in bids}
    given: dict[str, dict[str, int]] = {}
    for i, entry in enumerate(panel):
        if entry["bid_id"] not in by_id:
            raise RuleViolation("not a valid bid of this package", rule="R-PRC-3", field=f"scores.{i}.bid_id")
        if entry["bid_id"] in given:
            raise RuleViolation("each bid is scored once", rule="R-PRC-3", field=f"scores.{i}.bid_id")
        for c in criteria:
            value = entry["criteria"].get(c["code"])
            if c["kind"] == "price":
                if value is not None:
                    raise RuleViolation("the price score is computed, not given", rule="R-PRC-3",
                                        field=f"scores.{i}.criteria.{c['code']}")
            elif value is None or not 0 <= value <= 100:
                raise RuleViolation(f"score {c['name']} from 0 to 100", rule="R-PRC-3", field=f"scores.{i}.criteria.{c['code']}")
        unknown = set(entry["criteria"]) - {c["code"] for c in criteria}
        if unknown:
            raise RuleViolation(f"unknown criteria {sorted(unknown)}", rule="R-PRC-3", field=f"scores.{i}.criteria")
        given[entry["bid_id"]] = entry["criteria"]
    unscored = [b for b in by_id if b not in given]
    if unscored:
        raise RuleViolation(f"every valid bid is scored: missing {unscored}", rule="R-PRC-3", field="scores")
    lowest = min(b["annual_price_fen"] for b in bids)
    ranked = []
    for b in bids:
        exact: dict[str, Fraction] = {}
        for c in criteria:
            if c["kind"] == "price":
                exact[c["code"]] = Fraction(100 * lowest, b["annual_price_fen"])
            else:
                exact[c["code"]] = Fraction(given[b["bid_id"]][c["code"]])
        total = sum((Fraction(c["weight"], 100) * exact[c["code"]] for c in criteria), Fraction(0))
        ranked.append({
            "bid_id": b["bid_id"],
            "provider_id": b["provider_id"],
            "annual_price_fen": b["annual_price_fen"],
            "criteria": {code: round(float(v), 2) for code, v in exact.items()},
            "total": round(float(total), 2),
            "_exact": total,
            "_submitted_on": b["submitted_on"],
        })
    # Ties: the lower price, then the earlier bid.
    ranked.sort(key=lambda r: (-r["_exact"], r["annual_price_fen"], r["_submitted_on"]))
    for rank, r in enumerate(ranked, start=1):
        r["rank"] = rank
        del r["_exact"], r["_submitted_on"]
    return ranked


def one_year_from(start: date) -> date:
    """Last day of a service year starting ``start`` (一年一签)."""
    try:
        following = start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        following = start.replace(year=start.year + 1, day=28) + timedelta(days=1)
    return following - timedelta(days=1)


def split_funding(funding: list[dict[str, Any]], amount_fen: int) -> list[dict[str, Any]]:
    """The package's funding shares scaled to the awarded price, in whole fen; the last takes the remainder."""
    budget = sum(f["amount_fen"] for f in funding)
    shares = [{"source": f["source"], "amount_fen": f["amount_fen"] * amount_fen // budget} for f in funding]
    shares[-1]["amount_fen"] += amount_fen - sum(s["amount_fen"] for s in shares)
    return [s for s in shares if s["amount_fen"] > 0]


def contract_terms(
    procurement: Any, package: dict[str, Any], bid: Any, signed_on: date, purchaser: str, probation: bool
) -> dict[str, Any]:
    """The body of ``POST /registry/v1/counties/{county}/contracts`` the award drafts."""
    planned = {it["code"]: it["planned"] for it in bid.items}
    start: date = package["service_start"]
    project = procurement.project
    return {
        "provider_id": bid.provider_id,
        "station_ids": list(package["station_ids"]),
        "purchaser": purchaser,
        "signed_on": signed_on.isoformat(),
        "effective_on": start.isoformat(),
        "period_start": start.isoformat(),
        "period_end": one_year_from(start).isoformat(),
        "amount_fen": bid.annual_price_fen,
        "funding": split_funding(package["funding"], bid.annual_price_fen),
        "service_areas": list(project["service_areas"]),
        "indicators": [
            {"code": it["code"], "name": it["name"], "unit": it["unit"], "target": planned[it["code"]]}
            for it in package["service_items"]
        ],
        "cycle_years": project["project_years"],
        "year_index": project["year_index"],
        "probation": probation,
    }
