"""Registry domain rules without servers: county policy, providers, workers and the contract lifecycle.
The last tests use the registry application in memory (eventsourcing's popo store)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from eventsourcing.persistence import IntegrityError
from registry.application import RegistryApplication, compose
from registry.domainmodel import (
    DEFAULT_POLICY,
    Contract,
    County,
    CountyBan,
    Provider,
    Worker,
    certificate_due,
    check_eligibility,
    check_hiring,
    check_not_banned,
    check_staffing,
    check_supervisor,
    check_uscc,
    filing_due,
    merged_policy,
    renewal_terms,
    year_end_from,
)
from registry.domainmodel.uscc import check_character

from shared.events.evaluation import EvaluationConcluded
from shared.infra.store import CommandContext
from shared.rules import RuleViolation

D = date.fromisoformat


def refused(rule: str, field: str | None, fn, *args, **kwargs) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        fn(*args, **kwargs)
    assert (caught.value.rule, caught.value.field) == (rule, field), caught.value.detail
    return caught.value


def worker(station: str = "S1", hired_on: str = "2026-08-01", qualification: str = "助理社会工作师", role: str = "social_worker") -> Worker:
    return Worker(
        county="640402", provider_id="P", station_id=station, name="李娜", birth_date=D("1995-05-05"), education="本科",
        qualification=qualification, role=role, hired_on=D(hired_on),
        certificate_due_on=certificate_due(DEFAULT_POLICY, qualification, D(hired_on)),
    )


# --- county policy ---------------------------------------------------------------------------

def test_policy_overrides_are_checked_against_their_parameter_and_rule():
    assert merged_policy({"worker_max_age_at_hiring": 35})["worker_max_age_at_hiring"] == 35
    assert merged_policy(None) == DEFAULT_POLICY
    refused("R-REG-4", "policy.staff_party", merged_policy, {"staff_party": True})
    refused("R-REG-2", "policy.min_workers_per_station", merged_policy, {"min_workers_per_station": "3"})
    refused("R-REG-1", "policy.require_rating_3a", merged_policy, {"require_rating_3a": 1})
    refused("R-REG-3", "policy.min_education", merged_policy, {"min_education": "小学"})
    refused("R-FIN-5", "policy.tranche_plan", merged_policy, {"tranche_plan": [{"seq": 1, "percent": 90, "trigger": "contract_effective"}]})
    refused("R-FIN-4", "policy.personnel_min_percent", merged_policy, {"personnel_min_percent": 120})
    # Seed 001: purchases from the social-assistance special funds ≤ 2% of that year's total (one county).
    caps = [{"source": "社会救助专项经费", "bound": "ceiling", "percent": 2, "base": "社会救助专项经费"}]
    assert merged_policy({"funding_caps": caps})["funding_caps"] == caps
    # The base is a configured funding source (its year's budget, entered in finance), as is the source.
    refused("R-FIN-2", "policy.funding_caps.0.base", merged_policy,
            {"funding_caps": [{**caps[0], "base": "source_annual_total"}]})
    refused("R-FIN-2", "policy.funding_caps.0.source", merged_policy, {"funding_caps": [{**caps[0], "source": "社会救助专项资金"}]})
    refused("R-FIN-2", "policy.funding_caps", merged_policy, {"funding_caps": [{**caps[0], "base_year": "last"}]})
    refused("R-FIN-2", "policy.funding_sources", merged_policy, {"funding_sources": ["福彩公益金", "福彩公益金"]})
    assert merged_policy(None)["funding_sources"] == ["社会救助专项经费", "困难群众救助补助资金", "福彩公益金", "一般公共预算", "社会资金"]
    refused("R-FIN-2", "policy.funding_caps", merged_policy, {"funding_caps": [{"source": "福彩公益金", "bound": "roof", "percent": 2}]})
    refused("R-FIN-2", "policy.funding_caps", merged_policy, {"funding_caps": [{"source": "福彩公益金", "bound": "floor", "percent": 2.5}]})


def test_a_county_policy_change_is_a_new_version_and_earlier_versions_stay_readable():
    county = County(code="640402", name="原州区", policy=merged_policy(None))
    county.revise("原州区", None)
    county.revise("原州区", merged_policy(None))
    assert county.policy_version == 1 and len(county.collect_events()) == 1  # only the registration
    county.revise("原州区", merged_policy({"min_workers_per_station": 3}))
    county.revise("固原市原州区", None)  # the name changes, the policy in force is kept
    assert county.policy_version == 3 and county.policy["min_workers_per_station"] == 3
    assert county.policy_of(1)["min_workers_per_station"] == 2
    assert county.policy_of(3) == county.policy and county.policy_of(4) is None


# --- providers (R-REG-1) -------------------------------------------------------------------------

def test_uscc_check_character_per_gb_32100():
    check_uscc("52640402MJY1000012")
    body = "91350206MA2Y0C7X1"
    check_uscc(body + check_character(body))
    refused("R-REG-1", "uscc", check_uscc, "52640402MJY1000013")  # wrong check character
    refused("R-REG-1", "uscc", check_uscc, "52640402MJY10000I2")  # I is not in the alphabet
    refused("R-REG-1", "uscc", check_uscc, "52640402MJY100001")  # 17 characters


def test_eligibility_follows_the_county_flags_and_bans():
    policy = merged_policy({"require_rating_3a": True, "require_party_org": True, "require_prior_pass": True})
    provider = Provider(county="640402", name="明德", uscc="52640402MJY1000012", rating="2A", has_party_org=False, prior_projects=[])
    day = D("2026-09-10")
    assert "3A" in refused("R-REG-1", "provider_id", check_eligibility, policy, provider, day).detail
    provider.update_profile(rating="3A", has_party_org=False, prior_projects=[])
    assert "党组织" in refused("R-REG-1", "provider_id", check_eligibility, policy, provider, day).detail
    provider.update_profile(rating="3A", has_party_org=True, prior_projects=[{"name": "2024 社工站", "year": 2024, "grade": "不合格"}])
    assert "合格" in refused("R-REG-1", "provider_id", check_eligibility, policy, provider, day).detail
    provider.note_evaluation("E1", passed=True)  # a passed evaluation of one of its contracts
    check_eligibility(policy, provider, day)
    # Banned (R-EVAL-9) from 1 July 2026 through 30 June 2029: cannot sign until the ban ends.
    provider.impose_ban(D("2026-07-01"), D("2029-06-30"), "弄虚作假")
    assert "2029-06-30" in refused("R-REG-1", "provider_id", check_not_banned, provider, [], day, day).detail
    check_not_banned(provider, [], D("2029-07-01"), D("2029-07-01"))
    # Recorded on 1 August 2026, inside the ban, with signed_on back-dated to June: refused all the same.
    assert "back-dated" in refused("R-REG-1", "signed_on", check_not_banned, provider, [], D("2026-06-01"), D("2026-08-01")).detail
    # A ban of the same organisation in another county counts too (R-EVAL-9).
    elsewhere = [CountyBan("130731", "p-elsewhere", D("2030-01-01"), D("2032-12-31"), "严重违约")]
    assert "130731" in refused("R-REG-1", "provider_id", check_not_banned, provider, elsewhere, D("2031-01-01"), D("2031-01-01")).detail
    provider.impose_ban(D("2026-08-01"), D("2027-01-01"), "covered by the longer ban")
    assert len(provider.bans) == 1


# --- workers (R-REG-2, R-REG-3) -------------------------------------------------------------------

def test_hiring_checks_age_and_education_against_the_policy():
    policy = merged_policy({"worker_max_age_at_hiring": 35})
    check_hiring(policy, D("1990-09-11"), "大专", "none", "social_worker", D("2026-09-10"))  # 36 tomorrow: 35 today
    refused("R-REG-3", "birth_date", check_hiring, policy, D("1990-09-10"), "大专", "none", "social_worker", D("2026-09-10"))
    refused("R-REG-3", "education", check_hiring, policy, D("1995-01-01"), "中专", "none", "social_worker", D("2026-09-10"))
    refused("R-REG-3", "qualification", check_hiring, policy, D("1995-01-01"), "本科", "心理咨询师", "social_worker", D("2026-09-10"))
    refused("R-REG-2", "role", check_hiring, policy, D("1995-01-01"), "本科", "none", "volunteer", D("2026-09-10"))


def test_a_worker_hired_without_a_certificate_has_two_years_and_qualifying_meets_the_deadline():
    w = worker(qualification="none", hired_on="2024-02-29")
    assert w.certificate_due_on == D("2026-02-28")
    assert w.certificate_overdue(D("2026-03-01")) and not w.certificate_overdue(D("2026-02-28"))
    w.qualify("助理社会工作师", D("2026-06-20"))
    assert w.certificate_due_on is None and not w.certificate_overdue(D("2026-12-01"))
    assert w.qualification_on(D("2026-06-19")) == "none" and w.qualification_on(D("2026-06-20")) == "助理社会工作师"
    refused("R-REG-3", "qualification", w.qualify, "助理社会工作师", D("2026-07-01"))


def test_moves_and_leaving_keep_the_history_that_staffing_is_judged_on():
    a, b = worker(), worker()
    a.move_to("S2", D("2026-10-01"))
    assert (a.station_on(D("2026-09-30")), a.station_on(D("2026-10-01"))) == ("S1", "S2")
    refused("R-REG-2", "to_station_id", a.move_to, "S2", D("2026-11-01"))
    refused("R-REG-2", "moved_on", a.move_to, "S1", D("2026-10-01"))
    b.leave(D("2026-10-15"), "辞职")
    assert b.employed_on(D("2026-10-15")) and not b.employed_on(D("2026-10-16"))
    refused("R-REG-3", "left_on", b.leave, D("2026-10-20"), "again")
    refused("R-REG-3", "moved_on", b.move_to, "S2", D("2026-11-01"))
    policy = DEFAULT_POLICY
    check_staffing(policy, ["S1"], [a, b], D("2026-09-30"))  # both at S1 that day
    refused("R-REG-2", "station_ids.0", check_staffing, policy, ["S1"], [a, b], D("2026-10-01"))
    refused("R-REG-2", "station_ids.1", check_staffing, policy, ["S1", "S2"], [a, b, worker("S2")], D("2026-09-30"))


def test_a_supervisor_is_checked_on_the_signing_day_when_required():
    policy = merged_policy({"supervisor_required": True})
    refused("R-REG-2", "supervisor_id", check_supervisor, policy, None, D("2026-09-10"))
    check_supervisor(DEFAULT_POLICY, None, D("2026-09-10"))
    supervisor = worker(role="supervisor", qualification="助理社会工作师")
    supervisor.qualify("社会工作师", D("2026-09-15"))
    refused("R-REG-2", "supervisor_id", check_supervisor, policy, supervisor, D("2026-09-10"))  # not yet 中级
    check_supervisor(policy, supervisor, D("2026-09-15"))
    refused("R-REG-2", "supervisor_id", check_supervisor, policy, worker(qualification="高级社会工作师"), D("2026-09-15"))


# --- filing (R-REG-5) ------------------------------------------------------------------------------

def test_filing_is_due_fifteen_working_days_after_signing_by_the_state_council_calendar():
    # Signed Thursday 10 September 2026: Sunday 20 Sep is a 调休 working day, 中秋 (25 Sep) and 国庆
    # (1–7 Oct) are holidays, so the 15th working day is 8 October (Mon–Fri alone would say 1 October).
    due = filing_due(DEFAULT_POLICY, D("2026-09-10"))
    assert (due.on, due.provisional) == (D("2026-10-08"), False)
    assert filing_due(merged_policy({"filing_working_days": 10}), D("2026-09-10")).on == D("2026-09-23")


def test_filing_due_in_a_year_without_a_calendar_is_monday_to_friday_and_provisional():
    from shared.workdays import WorkdayCalendar, YearCalendar

    # Signed Fri 2026-12-18: Dec 21–31 are 1–9 (2026, official); 2027 has no calendar, so R-FIN-6
    # counts Monday–Friday — Fri Jan 1 10, Jan 4–8 11–15 — and the deadline is provisional.
    due = filing_due(DEFAULT_POLICY, D("2026-12-18"))
    assert (due.on, due.provisional) == (D("2027-01-08"), True)
    # Once 2027 is loaded (元旦 off), the deadline moves to Mon Jan 11 and is no longer provisional.
    loaded = WorkdayCalendar().with_year(YearCalendar(2027, frozenset({D("2027-01-01")}), frozenset()))
    due = filing_due(DEFAULT_POLICY, D("2026-12-18"), loaded)
    assert (due.on, due.provisional) == (D("2027-01-11"), False)


# --- the application, in memory ----------------------------------------------------------------------

@pytest.fixture
def app() -> RegistryApplication:
    return RegistryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def sign_one(app: RegistryApplication, signed_on: date, start: date, end: date) -> str:
    """County 640402 with one provider, one station of two workers, and one contract signed for
    ``start`` … ``end`` (in the caller's command context); its id."""
    registry = compose(app)
    registry.counties.put_county("640402", "原州区", None)
    provider = registry.counties.register_provider("640402", "明德", "52640402MJY1000012", "4A", False)
    station = registry.staffing.establish_station("640402", "南关街道社工站", "南关街道", "street_station")
    for _ in range(2):
        registry.staffing.hire_worker("640402", str(provider), str(station), "李娜", D("1995-05-05"), "本科", "助理社会工作师", "social_worker", D("2026-08-01"))
    terms = {
        "provider_id": str(provider), "station_ids": [str(station)], "purchaser": "原州区民政局", "signed_on": signed_on,
        "effective_on": start, "period_start": start, "period_end": end, "amount_fen": 100,
        "funding": [{"source": "福彩公益金", "amount_fen": 100}], "service_areas": ["社会救助"],
        "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
    }
    return str(registry.contracting.sign_contract("640402", terms))


def test_a_stale_copy_of_a_contract_cannot_be_saved_over_a_newer_one(app):
    # Optimistic concurrency: two commands loaded version 1; the first one's save wins, the second
    # one's save is refused (the HTTP layer answers 409) and records nothing.
    with app.command(CommandContext(county="640402", actor="tester")):
        contract_id = sign_one(app, D("2026-09-10"), D("2026-09-21"), D("2027-09-20"))
        first, second = app.contract("640402", contract_id), app.contract("640402", contract_id)
        first.file(D("2026-09-30"), "固原市民政局", D("2026-10-08"))
        app.save(first)
        second.terminate(D("2026-10-01"), "agreement", "协商解除")
        with pytest.raises(IntegrityError):
            app.save(second)
    current: Contract = app.contract("640402", contract_id)
    assert (current.version, current.status, current.filed_on) == (2, "signed", D("2026-09-30"))


def test_policy_values_beyond_sense_are_refused_not_crashed_on():
    refused("R-REG-3", "policy.certificate_deadline_years", merged_policy, {"certificate_deadline_years": 10**9})
    refused("R-REG-5", "policy.filing_working_days", merged_policy, {"filing_working_days": 121})
    refused("R-FIN-5", "policy.tranche_plan", merged_policy, {"tranche_plan": [{"seq": "1", "percent": 100, "trigger": "contract_effective"}]})
    refused("R-FIN-5", "policy.tranche_plan", merged_policy,
            {"tranche_plan": [{"seq": 1, "percent": 100, "trigger": "contract_effective", "due_working_days": "15"}]})
    refused("R-LOG-4", "policy.annual_direct_hours_per_staff", merged_policy, {"annual_direct_hours_per_staff": "Infinity"})
    assert merged_policy({"annual_direct_hours_per_staff": "1700.5"})["annual_direct_hours_per_staff"] == "1700.5"


def test_an_evaluation_result_for_a_contract_registry_does_not_know_changes_nothing(app):
    result = EvaluationConcluded(
        evaluation_id="E1", county="640402", contract_id="not-a-contract", provider_id="P", stage="final", score=Decimal("50"),
        grade="不合格", passed=False, rubric_id="R", rubric_version=1, concluded_on=D("2027-09-01"), fraud_found=True,
    )
    assert compose(app).reactions.on_evaluation_concluded(result) == []


def test_a_funding_ledger_lowers_its_commitments_by_each_release_once():
    """R-FIN-2: finance's CommitmentReleased lowers what registry judges a new signing against, once
    per contract and source; a ledger (new, or recorded before releases) holds no ``released`` until its first."""
    from registry.domainmodel import FundingLedger

    ledger = FundingLedger(county="640402", year=2027)
    ledger.commit("c-1", {"社会救助专项经费": 9_367_123})
    assert not hasattr(ledger, "released")
    ledger.release("c-1", "社会救助专项经费", 4_683_561, date(2026, 11, 2))
    ledger.release("c-1", "社会救助专项经费", 4_683_561, date(2026, 11, 2))  # received again: nothing
    ledger.release("c-1", "福彩公益金", 0, date(2026, 11, 2))
    assert ledger.committed_fen("社会救助专项经费") == 4_683_562
    assert [type(e).__name__ for e in ledger.collect_events()] == ["Opened", "Committed", "Released"]


def test_a_renewal_year_starting_on_29_february_ends_on_28_february_a_year_on(app):
    # R-REG-4 (一年一签): the next year starts the day after the last one ends and runs a whole year,
    # to the day before the same date a year later — for a start on 29 February that is 28 February
    # (the day before 1 March), not the 27th.
    with app.command(CommandContext(county="640402", actor="tester")):
        contract_id = sign_one(app, D("2027-02-20"), D("2027-03-01"), D("2028-02-28"))
    renewal = renewal_terms(app.contract("640402", contract_id))
    assert (renewal["period_start"], renewal["period_end"]) == (D("2028-02-29"), D("2029-02-28"))
    # Any other start: the day before its anniversary (1 March 2027 → 29 February 2028).
    assert year_end_from(D("2027-03-01")) == D("2028-02-29") and year_end_from(D("2026-09-21")) == D("2027-09-20")


def test_a_renewal_takes_effect_when_its_year_starts_or_on_signing_when_signed_later(app):
    # R-REG-7 waits for the year's final evaluation, which comes near or after the year's end: a
    # renewal asked with only signed_on takes effect the day its year starts, or on signing when
    # that is later — not refused as taking effect before it was signed (R-REG-4).
    registry = compose(app)
    with app.command(CommandContext(county="640402", actor="tester")):
        first = sign_one(app, D("2026-09-10"), D("2026-09-21"), D("2027-09-20"))
        year = app.contract("640402", first)
        passed = EvaluationConcluded(
            evaluation_id="E-final", county="640402", contract_id=first, provider_id=year.provider_id, stage="final",
            score=Decimal("85"), grade="良好", passed=True, rubric_id="R", rubric_version=1, concluded_on=D("2027-10-09"),
            fraud_found=False,
        )
        app.save(*registry.reactions.on_evaluation_concluded(passed))
        late = app.contract("640402", str(registry.contracting.renew_contract("640402", first, D("2027-10-12"), {})))
    assert (late.period_start, late.period_end, late.effective_on) == (D("2027-09-21"), D("2028-09-20"), D("2027-10-12"))
    with app.command(CommandContext(county="640402", actor="tester")):
        app.save(*registry.reactions.on_evaluation_concluded(
            EvaluationConcluded(**{**passed.model_dump(), "evaluation_id": "E-final-2", "contract_id": str(late.id), "concluded_on": D("2028-08-20")})))
        early = app.contract("640402", str(registry.contracting.renew_contract("640402", str(late.id), D("2028-09-01"), {})))
    assert (early.period_start, early.effective_on, early.signed_on) == (D("2028-09-21"), D("2028-09-21"), D("2028-09-01"))


def test_certificate_levels_are_taken_as_domain_md_and_the_seeds_write_them(app):
    # R-REG-3: DOMAIN.md names the levels none / 助理社工师 / 社工师(中级) / 高级, the seeds 助理社工师、社工师、
    # 中级社会工作师; each is recorded under the certificate's full name (全国社会工作者职业水平证书).
    registry = compose(app)
    with app.command(CommandContext(county="640402", actor="tester")):
        registry.counties.put_county("640402", "原州区", None)
        provider = str(registry.counties.register_provider("640402", "明德", "52640402MJY1000012", "4A", False))
        station = str(registry.staffing.establish_station("640402", "南关街道社工站", "南关街道", "street_station"))
        hired = {
            written: registry.staffing.hire_worker(
                "640402", provider, station, "李娜", D("1995-05-05"), "本科", written, "social_worker", D("2026-08-01"))
            for written in ("助理社工师", "社工师", "中级社会工作师", "高级社工师", "无")
        }
        assert {w: app.repository.get(i).qualification for w, i in hired.items()} == {
            "助理社工师": "助理社会工作师", "社工师": "社会工作师", "中级社会工作师": "社会工作师", "高级社工师": "高级社会工作师",
            "无": "none",
        }
        assert app.repository.get(hired["无"]).certificate_due_on == D("2028-08-01")
        worker = registry.staffing.qualify_worker("640402", str(hired["无"]), "助理社工师", D("2027-06-01"))
        assert (worker.qualification, worker.certificate_due_on) == ("助理社会工作师", None)
    refused("R-REG-3", "qualification", check_hiring, DEFAULT_POLICY, D("1995-05-05"), "本科", "社工证", "social_worker", D("2026-08-01"))


def test_station_kinds_roles_and_education_are_taken_as_domain_md_writes_them(app):
    # DOMAIN.md names stations 家庭综合服务中心 (家综) / 社会工作室 / 县级社工总站, workers 驻站社工 / 督导, education 大专 …;
    # each is recorded by its code.
    registry = compose(app)
    with app.command(CommandContext(county="640402", actor="tester")):
        registry.counties.put_county("640402", "原州区", None)
        provider = str(registry.counties.register_provider("640402", "明德", "52640402MJY1000012", "4A", False))
        kinds = {written: app.repository.get(registry.staffing.establish_station("640402", written, "南关街道", written)).kind
                 for written in ("家庭综合服务中心", "家综", "社区社会工作室", "乡镇社会工作服务站", "县级社工总站")}
        assert kinds == {"家庭综合服务中心": "family_centre", "家综": "family_centre", "社区社会工作室": "community_room",
                         "乡镇社会工作服务站": "township_station", "县级社工总站": "county_hub"}
        station = str(registry.staffing.establish_station("640402", "南关街道社工站", "南关街道", "街道社会工作服务站"))
        worker = app.repository.get(registry.staffing.hire_worker(
            "640402", provider, station, "王静", D("1990-05-05"), "专科", "社会工作师", "督导", D("2026-08-01")))
        assert (worker.role, worker.education) == ("supervisor", "大专")
        assert app.repository.get(registry.staffing.hire_worker(
            "640402", provider, station, "李娜", D("1995-05-05"), "大学本科", "none", "驻站社工", D("2026-08-01"))).role == "social_worker"
