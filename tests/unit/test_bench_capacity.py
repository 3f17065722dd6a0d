"""The bench's CPU accounting (bench/capacity.py): parsing /proc, summing per-process deltas, and
the ceiling and utilisation arithmetic BENCHMARKS.md quotes for issue 16's capacity targets."""

from __future__ import annotations

import pytest

from bench import capacity

PROC_STAT = """cpu  15326 7 6143 62823 1011 3 416 297 40 5
cpu0 6121 0 2496 33910 163 0 133 135 0 0
cpu1 9204 7 3646 28912 848 3 282 162 40 5
intr 1234 0 0
ctxt 99
"""


def test_proc_stat_totals_the_aggregate_line_without_guest_time_and_counts_iowait_as_idle() -> None:
    total, idle = capacity.parse_proc_stat(PROC_STAT)
    # user nice system idle iowait irq softirq steal; guest (40) and guest_nice (5) are in user/nice already
    assert total == 15326 + 7 + 6143 + 62823 + 1011 + 3 + 416 + 297
    assert idle == 62823 + 1011


def test_proc_stat_without_an_aggregate_line_is_refused() -> None:
    with pytest.raises(ValueError):
        capacity.parse_proc_stat("cpu0 1 2 3 4 5 6 7 8\n")


def test_pid_stat_reads_start_time_and_user_plus_system_ticks_even_with_parentheses_in_the_name() -> None:
    fields = ["S", "1", "2", "3", "0", "-1", "4194304", "119", "0", "0", "0", "250", "70", "5", "6", "20", "0", "1", "0", "46838", "3133440"]
    text = "4242 (python (x) y) " + " ".join(fields)
    assert capacity.parse_pid_stat(text) == (46838, 250 + 70)


def test_delta_counts_survivors_end_minus_start_newcomers_from_zero_and_leavers_not_at_all() -> None:
    start = {(10, 1): 100, (11, 1): 50, (12, 1): 30}
    end = {(10, 1): 160, (11, 1): 50, (13, 9): 25}  # 12 exited; 13 started within the window
    assert capacity.delta_ticks(start, end) == 60 + 0 + 25


def test_a_reused_pid_is_a_new_process_counted_from_zero() -> None:
    start = {(10, 1): 500}
    end = {(10, 77): 40}  # pid 10 again, another start time: not 40 − 500
    assert capacity.delta_ticks(start, end) == 40


@pytest.mark.parametrize(("cmdline", "db"), [
    ("postgres: 15/main: postgres swp_bench_ab12 127.0.0.1(51322) SELECT", "swp_bench_ab12"),
    ("postgres: postgres swp 127.0.0.1(5000) idle in transaction", "swp"),
    ("postgres: 15/main: app other_db [local] idle", "other_db"),
    ("postgres: 15/main: checkpointer   ", None),
    ("postgres: 15/main: logical replication launcher", None),
    ("/usr/lib/postgresql/15/bin/postgres\0-D\0/var/lib/postgresql/15/main\0", None),
])
def test_postgres_process_titles_name_the_database_of_client_backends_only(cmdline: str, db: str | None) -> None:
    assert capacity.postgres_database(cmdline) == db


def test_backends_of_other_databases_are_not_ours_but_shared_processes_are() -> None:
    mine = "postgres: 15/main: postgres swp_bench_1 127.0.0.1(1) idle"
    theirs = "postgres: 15/main: postgres swp_test_9 127.0.0.1(2) idle"
    assert capacity.is_ours(mine, "swp_bench_1")
    assert not capacity.is_ours(theirs, "swp_bench_1")
    assert capacity.is_ours("postgres: 15/main: walwriter", "swp_bench_1")
    assert capacity.is_ours(theirs, None)


def test_other_is_the_machines_busy_time_less_every_party_and_never_negative() -> None:
    assert capacity.split_other({"server": 5.0, "client": 1.0}, 9.5) == {"server": 5.0, "client": 1.0, "other": 3.5}
    assert capacity.split_other({"server": 5.0}, 4.9)["other"] == 0.0


def test_summary_busy_fractions_are_of_all_cores_over_the_wall_time() -> None:
    s = capacity.summary({"server": 7.0, "postgres": 5.0, "client": 2.0}, machine_busy=15.0, machine_idle=5.0, wall=10.0, nproc=2)
    assert s["parties_cpu_s"] == 14.0
    assert s["cpu_s"]["other"] == 1.0
    assert s["parties_busy_fraction"] == 0.7
    assert s["machine_busy_fraction"] == 0.75


def test_ceiling_is_the_machines_cpu_over_what_the_loops_requests_took() -> None:
    # 2 cores for 10 s, the loop's requests took 16 CPU-seconds: at that cost per request the
    # machine holds 20/16 = 1.25× the loop's throughput, whatever the number of processes.
    assert capacity.ceiling_ratio(2, 10.0, 16.0) == pytest.approx(1.25)
    assert capacity.ceiling_ratio(2, 10.0, 16.0, reserved=4.0) == pytest.approx(1.0)
    assert capacity.ceiling_ratio(2, 10.0, 0.0) is None


def test_scale_out_ceiling_from_a_one_process_window() -> None:
    acc = capacity.summary({"gateway": 3.0, "replica-1": 6.0, "replica-2": 0.2, "nats": 0.8, "postgres": 4.0, "client": 2.0},
                           machine_busy=17.0, machine_idle=3.0, wall=10.0, nproc=2)
    cap = capacity.scale_out_ceiling(acc, requests=1000)
    assert cap["ceiling_ratio"] == pytest.approx(20 / 16)
    assert cap["ceiling_ratio_given_other"] == pytest.approx((20 - 1) / 16, abs=1e-3)
    assert cap["cpu_ms_per_request"]["replica-1"] == 6.0
    assert cap["cpu_ms_per_request"]["all"] == 16.0
    assert cap["other_ms_per_request"] == 1.0
    assert cap["parties_busy_fraction"] == 0.8
    assert cap["core_share"]["replica-1"] == 0.6


def test_load_capacity_gives_the_servers_share_of_a_core_and_its_rho_at_the_offered_rate() -> None:
    acc = capacity.summary({"server": 9.0, "nats": 0.5, "postgres": 3.5, "client": 2.0}, machine_busy=16.0, machine_idle=4.0,
                           wall=10.0, nproc=2)
    c = capacity.load_capacity(acc, requests=1000, rate=100.0)
    assert c["server_utilisation"] == 0.9
    assert c["cpu_ms_per_request"]["server"] == 9.0
    assert c["server_rho"] == pytest.approx(0.9)  # 9 ms per POST × 100/s
    assert c["machine_rho"] == pytest.approx(15e-3 * 100 / 2)
    assert c["server_max_rps"] == pytest.approx(111.1)
    assert c["machine_max_rps"] == pytest.approx(133.3)


def test_capacity_metrics_say_plainly_when_the_target_cannot_be_met_here() -> None:
    acc = capacity.summary({"gateway": 3.0, "replica-1": 7.0, "postgres": 5.0, "client": 1.0}, machine_busy=17.0,
                           machine_idle=3.0, wall=10.0, nproc=2)
    one = {"throughput": 100.0, "ok": 1000, "accounting": acc, "capacity": capacity.scale_out_ceiling(acc, 1000)}
    m = capacity.scale_out_metrics("platform.postgres", {"one": one})
    ceiling = m["platform.postgres.scale_out.ceiling"]
    assert ceiling["ratio"] == 1.25 and ceiling["met"] is None and ceiling["target"] is None
    assert "cannot be met on this machine" in ceiling["note"]
    roomy = capacity.summary({"replica-1": 5.0, "client": 1.0}, machine_busy=6.0, machine_idle=14.0, wall=10.0, nproc=2)
    one = {"throughput": 100.0, "ok": 1000, "accounting": roomy, "capacity": capacity.scale_out_ceiling(roomy, 1000)}
    assert "cannot be met" not in capacity.scale_out_metrics("p", {"one": one})["p.scale_out.ceiling"]["note"]


def test_open_loop_metrics_report_rho_as_the_ratio_to_the_offered_interval() -> None:
    acc = capacity.summary({"server": 9.0, "client": 1.0}, machine_busy=12.0, machine_idle=8.0, wall=10.0, nproc=2)
    p = {"accounting": {"open-loop": acc}, "open": {"ok": 1000}}
    m = capacity.load_metrics("p", p, rate=100.0)
    rho = m["p.post_delivery.open_loop_rho"]
    assert rho["ratio"] == pytest.approx(0.9) and rho["met"] is None
    assert "queue builds" in rho["note"]
    assert m["p.post_delivery.open_loop_server_utilisation"]["value"] == 90.0


def test_top_others_names_the_busiest_processes_outside_the_parties() -> None:
    start = {(1, 1): (100, "server"), (2, 1): (0, "pytest"), (3, 1): (10, "kworker")}
    end = {(1, 1): (900, "server"), (2, 1): (300, "pytest"), (3, 1): (12, "kworker"), (4, 5): (50, "ruff")}
    tick = capacity.TICK
    assert capacity.top_others(start, end, parties={(1, 1)}) == [f"pytest 2: {300 / tick:.2f} s", f"ruff 4: {50 / tick:.2f} s"]


def test_best_single_ceiling_is_one_when_the_machine_runs_out_before_the_process_core() -> None:
    # one process at 5.5 ms per request → 182/s on its core; the machine at 11 ms of all parties → 2/11 ms = 182/s
    assert capacity.best_single_ceiling(2, 5.5, 11.0) == pytest.approx(1.0)
    assert capacity.best_single_ceiling(2, 5.0, 11.0) == pytest.approx(1.0)  # the machine is the tighter cap
    assert capacity.best_single_ceiling(2, 6.0, 11.0) == pytest.approx(12 / 11)  # the core is: 167/s against 182/s
    # a process whose core caps it at 100/s on a machine that could do 200/s: ×2 at best
    assert capacity.best_single_ceiling(2, 10.0, 10.0) == pytest.approx(2.0)
    assert capacity.best_single_ceiling(2, 0.0, 10.0) is None


def test_scale_out_ceiling_vs_best_single_from_the_serving_process() -> None:
    acc = capacity.summary({"gateway": 3.0, "replica-1": 6.0, "postgres": 4.0, "client": 1.0}, machine_busy=15.0,
                           machine_idle=5.0, wall=10.0, nproc=2)
    cap = capacity.scale_out_ceiling(acc, requests=1000)
    assert cap["single_max_rps"] == pytest.approx(166.7)
    assert cap["machine_max_rps"] == pytest.approx(142.9)
    assert cap["ceiling_vs_best_single"] == pytest.approx(1.0)
    one = {"throughput": 100.0, "ok": 1000, "accounting": acc, "capacity": cap}
    m = capacity.scale_out_metrics("p", {"one": one})["p.scale_out.ceiling_vs_best_single"]
    assert m["ratio"] == 1.0 and m["met"] is None and "cannot be met on this machine" in m["note"]
