"""Finance domain rules without servers: the tranche plan in integer fen (R-FIN-1/5), due dates on
the State Council calendar (R-FIN-6), evaluation-driven scheduling and withholding, every refusal
of a payment (R-FIN-7), budgets and their caps (R-FIN-2), the station minimum (R-FIN-3) and the
findings an expense raises (R-FIN-4, R-FIN-8).

Due dates were worked out by hand from the 国务院办公厅 notices as chinesecalendar ships them
(see tests/unit/test_workdays.py); 2027 has no published data there."""

from __future__ import annotations

from datetime import date

import pytest
from finance.domainmodel import (
    CalendarBook,
    ContractAccount,
    CountyBudget,
    Finding,
    TrancheSchedule,
    expense_findings,
    plan_tranches,
    split_amounts,
    station_minimum_breach,
)
from finance.domainmodel.funding import policy_cap_breaches, policy_caps_on

from shared.rules import NotFound, RuleViolation
from shared.workdays import WorkdayCalendar

D = date.fromisoformat
PLAN = [
    {"seq": 1, "percent": 50, "trigger": "contract_effective"},
    {"seq": 2, "percent": 30, "trigger": "midterm_passed"},
    {"seq": 3, "percent": 20, "trigger": "final_passed", "due_working_days": 15},
]
CAL = WorkdayCalendar()


def schedule(amount_fen: int = 36_000_001, effective_on: str = "2025-09-26", stations: int = 1, **policy) -> TrancheSchedule:
    start = D(effective_on)
    s = TrancheSchedule(
        contract_id="c-1", county="640402", amount_fen=amount_fen, effective_on=start,
        period_start=start, period_end=start.replace(year=start.year + 1), tranches=plan_tranches(amount_fen, PLAN),
        provider_id="p-1", station_ids=[f"s-{i}" for i in range(stations)], signed_on=start,
        funding=[{"source": "福彩公益金", "amount_fen": amount_fen}], policy=policy,
    )
    s.schedule_triggered("contract_effective", start, CAL)
    return s


def statuses(s: TrancheSchedule) -> list[str]:
    return [t.status for t in s.tranches]


def test_the_50_30_20_plan_on_an_amount_that_does_not_divide_evenly():
    # 360,000.01 yuan: 50% and 30% round down to whole fen, the last tranche takes the remainder.
    assert split_amounts(36_000_001, [50, 30, 20]) == [18_000_000, 10_800_000, 7_200_001]
    # 100.01 yuan: 50.00 + 30.00 + 20.01.
    assert split_amounts(10_001, [50, 30, 20]) == [5_000, 3_000, 2_001]
    # Even three fen split: the remainder lands on the last tranche, never lost or invented.
    assert split_amounts(3, [50, 30, 20]) == [1, 0, 2]
    for amount in (1, 7, 99_999, 36_000_001, 123_456_789):
        assert sum(split_amounts(amount, [50, 30, 20])) == amount
    tranches = plan_tranches(36_000_001, PLAN)
    assert [(t["seq"], t["amount_fen"], t["trigger"], t["due_working_days"]) for t in tranches] == [
        (1, 18_000_000, "contract_effective", 15), (2, 10_800_000, "midterm_passed", 15), (3, 7_200_001, "final_passed", 15)
    ]


def test_due_dates_across_national_day_and_spring_festival_count_the_tiaoxiu_weekends():
    s = schedule(effective_on="2025-09-26")
    # Tranche 1: 15 working days after Fri 2025-09-26 — Sun Sep 28 (调休) counts, Oct 1–8 do not,
    # Sat Oct 11 (调休) counts: Thu Oct 23 (Mon–Fri alone would give Oct 17).
    assert (s.tranche(1).due_on, s.tranche(1).provisional) == (D("2025-10-23"), False)
    # Mid-term passes on Tue 2026-02-10: Sat Feb 14 (调休) counts, Feb 15–23 (春节) do not,
    # Sat Feb 28 (调休) counts: tranche 2 is due Mon Mar 9.
    s.schedule_triggered("midterm_passed", D("2026-02-10"), CAL)
    assert (s.tranche(2).status, s.tranche(2).due_on, s.tranche(2).triggered_on) == (
        "scheduled", D("2026-03-09"), D("2026-02-10")
    )
    # A trigger the plan does not wait for changes nothing; nor does the same trigger twice.
    s.schedule_triggered("annual_passed", D("2026-03-01"), CAL)
    s.schedule_triggered("midterm_passed", D("2026-05-01"), CAL)
    assert s.tranche(2).due_on == D("2026-03-09")
    assert statuses(s) == ["scheduled", "scheduled", "awaiting_trigger"]


def test_tranche_one_into_a_year_without_a_calendar_is_due_by_monday_to_friday_provisionally():
    # In effect from Mon 2026-12-21: Dec 22–31 are 1–8 (2026, official); 2027 has no calendar, so
    # R-FIN-6 counts Monday–Friday — Fri Jan 1 9, Jan 4–8 10–14, Mon Jan 11 15 — provisional.
    s = schedule(effective_on="2026-12-21")
    assert (s.tranche(1).due_on, s.tranche(1).provisional) == (D("2027-01-11"), True)
    book = CalendarBook()
    assert book.load(2027, [D("2027-01-01")], []) is True
    assert s.recompute_due_dates(book.workdays(), 2027) == [1]
    assert (s.tranche(1).due_on, s.tranche(1).provisional) == (D("2027-01-12"), False)


def test_a_provisional_due_date_is_recomputed_when_the_year_calendar_is_loaded():
    s = schedule(effective_on="2027-01-25")
    # 2027 has no published notice here: Monday–Friday (R-FIN-6), so 除夕 Fri Feb 5 and 初三 Mon Feb 8
    # still count — Jan 26–29 1–4, Feb 1–5 5–9, Feb 8–12 10–14, Mon Feb 15 15 — provisional.
    assert (s.tranche(1).due_on, s.tranche(1).provisional) == (D("2027-02-15"), True)

    book = CalendarBook()
    # An illustrative 2027 notice: 春节 Feb 5–12 off, Sat Jan 30 and Sat Feb 20 worked (调休).
    holidays = [D("2027-02-05"), *(D(f"2027-02-{d:02d}") for d in range(8, 13))]
    assert book.load(2027, holidays, [D("2027-01-30"), D("2027-02-20")]) is True
    assert book.load(2027, holidays, [D("2027-01-30"), D("2027-02-20")]) is False  # the same notice again
    # Jan 26–29 1–4, Sat Jan 30 5, Feb 1–4 6–9, Feb 5–14 off, Feb 15–19 10–14, Sat Feb 20 15.
    assert s.recompute_due_dates(book.workdays(), 2027) == [1]
    assert (s.tranche(1).due_on, s.tranche(1).provisional) == (D("2027-02-20"), False)
    recomputed = [e for e in s.collect_events() if type(e).__name__ == "DueDateRecomputed"]
    assert [(e.previous_due_on, e.due_on, e.provisional) for e in recomputed] == [(D("2027-02-15"), D("2027-02-20"), False)]
    # Counting again with the same calendar changes nothing.
    assert s.recompute_due_dates(book.workdays(), 2027) == []

    with pytest.raises(RuleViolation) as refused:
        book.load(2027, [D("2028-01-01")], [])
    assert (refused.value.rule, refused.value.field) == ("R-FIN-6", "holidays")


def test_failed_evaluation_withholds_and_an_upheld_appeal_schedules_again():
    s = schedule(effective_on="2025-09-26")
    s.withhold("midterm_passed", "ev-mid", D("2026-03-20"), "不合格")
    assert statuses(s) == ["scheduled", "withheld", "awaiting_trigger"]
    assert s.tranche(2).due_on is None
    # Appeal upheld on Mon 2026-09-28: Sep 29–30, Oct 8–9, Sat Oct 10 (调休) … due Fri Oct 23.
    s.reschedule_after_appeal("ev-mid", "midterm_passed", D("2026-09-28"), CAL)
    assert (s.tranche(2).status, s.tranche(2).due_on) == ("scheduled", D("2026-10-23"))


def test_every_refusal_of_a_payment():
    s = schedule(effective_on="2025-09-26")

    def refusal(seq: int, paid_on: str = "2025-10-20") -> tuple[str | None, str | None, str]:
        with pytest.raises(RuleViolation) as refused:
            s.pay(seq, D(paid_on), "V-1")
        return refused.value.rule, refused.value.field, refused.value.detail

    # Before its trigger (mid-term not yet concluded).
    rule, field, detail = refusal(2)
    assert (rule, field) == ("R-FIN-7", "seq") and "awaits its trigger midterm_passed" in detail
    # Dated before its trigger.
    assert refusal(1, "2025-09-25")[:2] == ("R-FIN-7", "paid_on")
    # Paid once, then again.
    s.pay(1, D("2025-10-20"), "V-1")
    assert s.tranche(1).status == "paid"
    assert refusal(1)[:2] == ("R-FIN-7", "seq") and "already paid" in refusal(1)[2]
    # Withheld after a failed mid-term.
    s.withhold("midterm_passed", "ev-mid", D("2026-03-20"), "不合格")
    assert refusal(2)[:2] == ("R-FIN-7", "seq") and "withheld" in refusal(2)[2]
    # Cancelled by termination; a paid tranche stays paid.
    s.cancel_remaining(D("2026-04-01"), "breach: 服务未达标")
    assert statuses(s) == ["paid", "cancelled", "cancelled"]
    assert refusal(3)[:2] == ("R-FIN-7", "seq") and "cancelled" in refusal(3)[2]
    with pytest.raises(NotFound):
        s.pay(9, D("2026-04-01"), "V-9")


def test_an_open_funding_finding_blocks_payment_until_resolved():
    s = schedule(amount_fen=20_000_000, stations=2)  # 100,000 yuan per station
    below = station_minimum_breach(s)
    assert below is not None and below[1:] == (10_000_000, 12_000_000)
    s.flag_funding("R-FIN-3", below[0], None, below[1], below[2])
    with pytest.raises(RuleViolation) as refused:
        s.pay(1, D("2025-10-20"), "V-1")
    assert refused.value.rule == "R-FIN-7" and "F1 (R-FIN-3" in refused.value.detail
    s.resolve_finding("F1", "县民政局追加站点经费")
    with pytest.raises(RuleViolation) as again:
        s.resolve_finding("F1", "again")
    assert again.value.rule == "R-FIN-3"
    s.pay(1, D("2025-10-20"), "V-1")
    assert s.tranche(1).status == "paid"
    # A county policy of 80,000 yuan per station is met by the same contract.
    assert station_minimum_breach(schedule(amount_fen=20_000_000, stations=2, station_min_amount_fen=8_000_000)) is None


def test_overdue_is_recorded_once_per_tranche():
    s = schedule(effective_on="2025-09-26")  # tranche 1 due 2025-10-23
    assert s.detect_overdue(D("2025-10-23")) == []  # due today is not overdue
    assert s.detect_overdue(D("2025-10-24")) == [1]
    assert s.detect_overdue(D("2025-11-30")) == []


def test_budget_line_status_by_the_county_policy_caps_allocation_and_floor():
    # Seed 001: purchases from the social-assistance special funds ≤ 2% of the year's total — a
    # county policy cap (registry's funding_caps), whose base is a budget line.
    social, total = "社会救助专项经费", "困难群众救助补助资金"
    ceiling = [{"source": social, "bound": "ceiling", "percent": "2", "base": total}]
    budget = CountyBudget(county="640402", year=2026)
    budget.allocate(social, 6_000_000_00)
    budget.allocate(total, 250_000_000_00)  # 2% of 2.5 亿 = 500 万

    def base_of(year: int, source: str) -> int | None:
        line = budget.line(source) if year == 2026 else None
        return line.amount_fen if line is not None and line.allocated else None

    assert budget.commit("c-1", social, 3_000_000_00) == []
    assert budget.status(social, ceiling, base_of) == "within"
    assert budget.commit("c-2", social, 2_500_000_00) == []  # the ceiling is policy: judged by policy_cap_breaches
    breaches = policy_cap_breaches(ceiling, 2026, social, budget.committed_fen(social), base_of)
    assert [(b[1], b[2]) for b in breaches] == [(5_500_000_00, 5_000_000_00)]
    assert "ceiling of 2% of the 2026 困难群众救助补助资金 budget" in breaches[0][0]
    assert budget.status(social, ceiling, base_of) == "exceeded"
    assert budget.status(social, [], base_of) == "within"  # no policy cap: only the allocation counts
    assert budget.commit("c-2", social, 2_500_000_00) == []  # the same contract again: nothing new
    # Over the allocation: a breach of the line itself.
    assert [(b[1], b[2]) for b in budget.commit("c-3", social, 1_000_000_00)] == [(6_500_000_00, 6_000_000_00)]
    # No budget allocated for a source: nothing to judge against.
    assert budget.commit("c-1", "一般公共预算", 10**12) == []
    assert budget.status("一般公共预算", ceiling, base_of) == "unallocated"
    # A cap whose base budget is not entered yet: shown without a limit, never "exceeded".
    previous = [{**ceiling[0], "base_year": "previous"}]
    assert policy_caps_on(previous, 2026, social, base_of) == [{
        "bound": "ceiling", "percent": "2", "base": total, "base_year": 2025, "base_fen": None, "limit_fen": None,
    }]
    # Another county's floor: purchases ≥ 3% of the year's social-assistance budget.
    floor_caps = [{"source": social, "bound": "floor", "percent": "3", "base": social}]
    floor = CountyBudget(county="130731", year=2026)
    floor.allocate(social, 10_000_001)
    floor_base = lambda y, s: floor.line(s).amount_fen  # noqa: E731
    assert policy_caps_on(floor_caps, 2026, social, floor_base)[0]["limit_fen"] == 300_001  # a floor rounds up
    assert floor.status(social, floor_caps, floor_base) == "below_floor"
    floor.commit("c-9", social, 300_001)
    assert floor.status(social, floor_caps, floor_base) == "within"
    with pytest.raises(RuleViolation) as refused:
        budget.allocate("福彩公益金", -1)
    assert (refused.value.rule, refused.value.field) == ("R-FIN-1", "amount_fen")


def test_expense_findings():
    s = schedule(amount_fen=100_000_00)  # 100,000 yuan contract, period 2025-09-26 – 2026-09-26
    account = ContractAccount(contract_id="c-1", county="640402")

    def findings(category: str, amount: int, spent_on: str = "2025-11-01", uses=(), received: int = 50_000_00):
        return [
            f.kind for f in expense_findings(
                account=account, category=category, amount_fen=amount, spent_on=D(spent_on), earlier_uses=list(uses),
                received_fen=received, contract_amount_fen=s.amount_fen, period_start=s.period_start,
                period_end=s.period_end, personnel_min_percent=90,
            )
        ]

    assert findings("personnel", 40_000_00) == []
    account.book("e-1", "personnel", 40_000_00, D("2025-11-01"), "V-1", [])
    # Operations up to 10% of the contract amount is within the cost structure; beyond it is not.
    assert findings("operations", 10_000_00) == []
    assert findings("operations", 10_000_01) == ["beyond_funds_received", "cost_structure"]
    # Beyond the 50,000 yuan received so far.
    assert findings("personnel", 10_000_01) == ["beyond_funds_received"]
    assert findings("personnel", 1, spent_on="2025-09-25") == ["outside_contract_period"]
    assert findings("personnel", 1, uses=[{"contract_id": "c-2", "expense_id": "e-9"}]) == ["duplicate_voucher"]


def test_the_account_keeps_totals_not_expenses_and_judges_wages_per_worker_and_month():
    """R-FIN-4 wages and R-FIN-8 funds from the account's running totals (issue 16): what ten
    bookings leave behind is two category totals and one figure per worker and month."""
    s = schedule(amount_fen=100_000_00)
    account = ContractAccount(contract_id="c-1", county="640402")

    def findings(amount: int, worker: str, month: str, received: int = 100_000_00) -> list[str]:
        return [
            f.kind for f in expense_findings(
                account=account, category="personnel", amount_fen=amount, spent_on=D("2025-11-01"), earlier_uses=[],
                received_fen=received, contract_amount_fen=s.amount_fen, period_start=s.period_start,
                period_end=s.period_end, personnel_min_percent=90, min_wage_fen=2_000_00, worker_id=worker, month=month,
            )
        ]

    for i in range(10):
        account.book(f"e-{i}", "personnel", 1_000_00, D("2025-11-01"), f"V-{i}", [], worker_id=f"w-{i % 2}", month="2025-11")
    account.book("o-1", "operations", 500_00, D("2025-11-02"), "V-o", [Finding("R-FIN-8", "beyond_funds_received", "x")])
    assert (account.spent_fen(), account.spent_fen("personnel"), account.spent_fen("operations")) == (10_500_00, 10_000_00, 500_00)
    assert account.wages == {"w-0": {"2025-11": 5_000_00}, "w-1": {"2025-11": 5_000_00}}
    assert (account.expense_count, account.flag_count) == (11, 1)
    assert not any(isinstance(v, list) for k, v in vars(account).items() if not k.startswith("_"))
    # A month already paid above the least wage stays above it; another month counts from zero.
    assert findings(1, "w-0", "2025-11") == []
    assert findings(1_999_99, "w-0", "2025-12") == ["below_minimum_wage"]
    assert findings(2_000_00, "w-2", "2025-12") == []
    # Funds received: the total of every category, plus this one.
    assert findings(1, "w-0", "2025-11", received=10_500_00) == ["beyond_funds_received"]


def test_the_year_end_evaluation_sets_off_the_plans_year_end_tranche_whichever_form_it_names():
    # The default plan says final_passed; a county that evaluates annual releases it all the same.
    s = schedule()
    assert [s.trigger_of(stage) for stage in ("midterm", "final", "annual", "process")] == [
        "midterm_passed", "final_passed", "final_passed", None
    ]
    s.schedule_triggered(s.trigger_of("annual"), D("2026-09-18"), CAL)
    assert statuses(s)[2] == "scheduled"
    # A plan that names annual_passed is set off by a final evaluation too…
    annual_plan = [dict(t, trigger="annual_passed") if t["seq"] == 3 else t for t in PLAN]
    s2 = TrancheSchedule(
        contract_id="c-2", county="640402", amount_fen=100, effective_on=D("2025-09-26"), period_start=D("2025-09-26"),
        period_end=D("2026-09-25"), tranches=plan_tranches(100, annual_plan),
    )
    assert (s2.trigger_of("annual"), s2.trigger_of("final")) == ("annual_passed", "annual_passed")
    s2.withhold(s2.trigger_of("final"), "e-1", D("2026-09-18"), "不合格")
    assert [t.status for t in s2.tranches][2] == "withheld"
    # …while a plan naming both keeps them apart.
    both = [*PLAN[:2], {"seq": 3, "percent": 10, "trigger": "final_passed"}, {"seq": 4, "percent": 10, "trigger": "annual_passed"}]
    s3 = TrancheSchedule(
        contract_id="c-3", county="640402", amount_fen=100, effective_on=D("2025-09-26"), period_start=D("2025-09-26"),
        period_end=D("2026-09-25"), tranches=plan_tranches(100, both),
    )
    assert (s3.trigger_of("annual"), s3.trigger_of("final")) == ("annual_passed", "final_passed")


def test_wage_fields_and_the_least_wage():
    from finance.domainmodel import check_expense, minimum_wage_fen

    check_expense("personnel", 100, "V-1", "w-1", "2026-03")
    check_expense("personnel", 100, "V-1", "w-1", "2100-12")
    for args, field in (
        (("operations", 100, "V-1", "w-1", "2026-03"), "worker_id"),
        (("operations", 100, "V-1", None, "2026-03"), "month"),
        (("personnel", 100, "V-1", "w-1", None), "month"),
        (("personnel", 100, "V-1", None, "2026-03"), "worker_id"),
        (("personnel", 100, "V-1", "w-1", "2026-3"), "month"),
        (("personnel", 100, "V-1", " ", "2026-03"), "worker_id"),
        (("personnel", 100, "V-1", "w-1", "0000-01"), "month"),  # months lie in 2000-01 … 2100-12, like every date
        (("personnel", 100, "V-1", "w-1", "9999-12"), "month"),
    ):
        with pytest.raises(RuleViolation) as refused:
            check_expense(*args)
        assert (refused.value.rule, refused.value.field) == ("R-FIN-4", field)
    assert minimum_wage_fen({"local_min_wage_fen": 0, "min_wage_multiplier": "1.1"}) is None
    # 1,955.55 yuan × 1.1 = 2,151.105 yuan: rounded up to the fen, the least wage is 2,151.11 yuan.
    assert minimum_wage_fen({"local_min_wage_fen": 195_555, "min_wage_multiplier": "1.1"}) == 215_111


def test_budget_line_versions_share_their_commitments_yet_each_keeps_its_own():
    """A line's versions share one append-only log (a burst of signings must not copy every
    commitment per signing): the latest version appends in place, an older one committing again
    branches off, and no version ever sees a commitment made after it."""
    import copy

    from finance.domainmodel import BudgetLine

    empty = BudgetLine("福彩公益金")
    one = empty.committing("c-1", 100)
    two = one.committing("c-2", 200)
    assert two._log is one._log  # appended in place: nothing copied
    caught_up = one.committing("c-2", 200)  # what two committed after it: the same log, nothing copied
    assert caught_up._log is one._log and caught_up == two and caught_up.commitments == two.commitments
    branch = one.committing("c-3", 300)  # another way than the log's: its own log
    assert branch._log is not one._log
    assert (empty.commitments, one.commitments) == ((), (("c-1", 100),))
    assert two.commitments == (("c-1", 100), ("c-2", 200)) and two.committed_fen == 300
    assert branch.commitments == (("c-1", 100), ("c-3", 300)) and branch.committed_fen == 400
    assert one.has("c-1") and not one.has("c-2") and not one.has("c-3") and not two.has("c-3") and branch.has("c-3")
    assert (one.latest_contract, two.latest_contract, branch.latest_contract, empty.latest_contract) == ("c-1", "c-2", "c-3", None)
    again = two.committing("c-1", 150)  # committed again: the same place, the new amount
    assert again.commitments == (("c-1", 150), ("c-2", 200)) and again.committed_fen == 350
    assert two.commitments == (("c-1", 100), ("c-2", 200))
    assert two == BudgetLine("福彩公益金", False, 0, (("c-1", 100), ("c-2", 200))) and two != branch
    assert two.allocating(500) == BudgetLine("福彩公益金", True, 500, two.commitments)
    with pytest.raises(AttributeError):
        two.amount_fen = 1  # type: ignore[misc]
    # A copy of the budget (what the aggregate cache hands a command) and the cached one go their own ways.
    budget = CountyBudget(county="640402", year=2026)
    budget.commit("c-1", "福彩公益金", 100)
    cached, working = budget, copy.deepcopy(budget)
    working.commit("c-2", "福彩公益金", 200)
    cached.commit("c-9", "福彩公益金", 900)
    assert [c for c, _ in working.line("福彩公益金").commitments] == ["c-1", "c-2"]
    assert [c for c, _ in cached.line("福彩公益金").commitments] == ["c-1", "c-9"]
    assert (working.committed_fen("福彩公益金"), cached.committed_fen("福彩公益金")) == (300, 1000)


def test_a_release_is_carried_once_per_contract_and_shared_by_the_lines_versions():
    """R-FIN-2: a terminated contract's unpaid part is released from the line — appended to a log its
    versions share (no walk, no copy of the commitments), at most once per contract, never more than
    it committed, nothing for a contract not on the line; the commitment itself stays as made."""
    import copy

    from finance.domainmodel import BudgetLine

    on = date(2026, 11, 2)
    two = BudgetLine("福彩公益金", True, 1000).committing("c-1", 100).committing("c-2", 200)
    released = two.releasing("c-1", 60, on, "breach: 驻站人员不足")
    assert released._log is two._log  # the commitments are not copied
    assert (released.committed_fen, released.released_fen, two.committed_fen) == (240, 60, 300)
    assert released.commitments == two.commitments and released.releases == (("c-1", 60, on, "breach: 驻站人员不足"),)
    assert released.released("c-1") and not two.released("c-1") and not released.released("c-2")
    assert released.releasing("c-1", 40, on, "again") is released  # once per contract
    assert released.releasing("c-9", 40, on, "never committed") is released
    assert released.releasing("c-2", 0, on, "nothing unpaid") is released
    caught_up = two.releasing("c-1", 60, on, "breach: 驻站人员不足")  # the cached version catching up: the same log
    assert caught_up._rlog is released._rlog and caught_up == released
    later = released.committing("c-3", 300)  # commitments after a release go on as before
    assert (later.committed_fen, later.released_fen, later.releases) == (540, 60, released.releases)
    assert released == BudgetLine("福彩公益金", True, 1000, two.commitments, released.releases) and released != two

    budget = CountyBudget(county="640402", year=2026)
    budget.commit("c-1", "福彩公益金", 100)
    budget.commit("c-2", "福彩公益金", 200)
    assert budget.release("c-1", "福彩公益金", 500, on, "breach: 驻站人员不足") == 100  # never more than committed
    assert budget.release("c-1", "福彩公益金", 50, on, "again") == 0  # a second release of the same contract: none
    assert budget.release("c-7", "福彩公益金", 50, on, "never committed") == 0
    assert budget.release("c-2", "一般公共预算", 50, on, "another line") == 0
    events = [e for e in budget.collect_events() if isinstance(e, CountyBudget.CommitmentReleased)]
    assert [(e.contract_id, e.source, e.amount_fen, e.county, e.year) for e in events] == [("c-1", "福彩公益金", 100, "640402", 2026)]
    assert (budget.committed_fen("福彩公益金"), budget.line("福彩公益金").released_fen) == (200, 100)
    # The copy the aggregate cache hands a reaction releases; the cached budget applies the same event after.
    cached = CountyBudget(county="640402", year=2027)
    cached.commit("c-1", "福彩公益金", 100)
    cached.collect_events()
    working = copy.deepcopy(cached)
    working.release("c-1", "福彩公益金", 40, on, "breach")
    (event,) = working.collect_events()
    event.mutate(cached)
    assert cached.line("福彩公益金") == working.line("福彩公益金") and cached.committed_fen("福彩公益金") == 60
    assert cached.line("福彩公益金")._rlog is working.line("福彩公益金")._rlog


def test_a_termination_releases_the_cancelled_tranches_in_proportion_to_the_contracts_shares():
    from finance.reactions import _largest_remainder

    assert _largest_remainder(16_500_000, [5_589_041, 14_410_959, 3_632_877, 9_367_123]) == [
        2_794_521, 7_205_480, 1_816_438, 4_683_561,  # equal remainders: the first shares take the fen left
    ]
    assert sum(_largest_remainder(7, [1, 1, 1])) == 7 and _largest_remainder(0, [3, 4]) == [0, 0]
