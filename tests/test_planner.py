import pytest

from ray_jobs.planner import CostModel, parallel_degrees, plan_replicas


def test_a14b_heads_allow_these_degrees():
    assert parallel_degrees(40, 8) == [1, 2, 4, 5, 8]
    assert parallel_degrees(24, 8) == [1, 2, 3, 4, 6, 8]  # TI2V-5B


def test_cost_model_starts_from_the_official_table_and_interpolates():
    cost = CostModel()
    assert cost.seconds_per_clip(1) == 1041.5 and cost.seconds_per_clip(8) == 155.1
    assert cost.seconds_per_clip(4) < cost.seconds_per_clip(2) < cost.seconds_per_clip(1)
    assert 1041.5 / 2 < cost.seconds_per_clip(2) < 1041.5 / 2 / 0.9  # 90-100% efficient at 2 GPUs


def test_measurements_move_the_estimate_and_teach_unmeasured_shapes():
    cost = CostModel(weight=0.5)
    cost.observe(8, 310.2)  # this cluster is twice as slow as the published H100 figure
    assert cost.seconds_per_clip(8) == pytest.approx((155.1 + 310.2) / 2)
    assert cost.seconds_per_clip(1) == pytest.approx(1041.5 * 1.5)


@pytest.mark.parametrize("clips, deadline, gpus, replicas", [
    (1, None, 8, 1),        # one clip: the 8-GPU replica has the best latency (155 s)
    (4, None, 2, 4),        # four scenes: four 2-GPU replicas finish in one wave (538 s)
    (120, None, 1, 8),      # a 30-day backfill: throughput wins, eight 1-GPU replicas
    (4, 1200, 1, 8),        # a loose deadline is met by the cheapest shape
    (4, 700, 2, 4),         # 1-GPU replicas miss 700 s (1041 s); four 2-GPU replicas meet it most cheaply
    (8, 700, 1, 8),         # nothing meets 700 s for 8 clips: the fastest shape, flagged
    (3, 100, 8, 1),         # nothing meets 100 s: fastest, flagged
])
def test_plan_for_one_h100_node(clips, deadline, gpus, replicas):
    plan = plan_replicas([8], clips, deadline)
    assert (plan.gpus_per_replica, plan.replicas) == (gpus, replicas), plan.explain()
    assert plan.meets_deadline == (deadline is None or plan.makespan_s <= deadline)
    assert plan.reasons and "alternatives" in plan.explain()


def test_replicas_never_span_nodes():
    plan = plan_replicas([4, 4], 40, None)
    assert plan.gpus_per_replica <= 4
    assert plan_replicas([4, 4], 2, None).replicas == 2  # two 4-GPU replicas, one per node


@pytest.mark.parametrize("nodes, clips, message", [([], 3, "no GPUs"), ([8], 0, "nothing to plan")])
def test_bad_plans_say_why(nodes, clips, message):
    with pytest.raises(ValueError, match=message):
        plan_replicas(nodes, clips, None)


def test_cost_model_round_trips_through_json():
    cost = CostModel()
    cost.observe(2, 600.0)
    again = CostModel.from_json(cost.to_json())
    assert again.seconds_per_clip(2) == cost.seconds_per_clip(2) and again.seconds_per_clip(8) == cost.seconds_per_clip(8)


def test_daily_deadline_is_the_publish_hour_and_past_days_have_none():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from assets_defs.clip_generation import publish_deadline_s

    morning = dt.datetime(2026, 11, 27, 6, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert publish_deadline_s(["2026-11-27"], 18, morning) == 12 * 3600
    assert publish_deadline_s(["2026-11-20", "2026-11-28", "2026-11-27"], 18, morning) == 12 * 3600
    assert publish_deadline_s(["Andromeda on her rock"], 18, morning) is None
    assert publish_deadline_s(["2026-11-20"], 18, morning) is None


def test_gpu_check_runs_its_small_mode_on_a_cpu():
    import json
    import subprocess
    import sys

    from starloom_core.settings import PROJECT_ROOT

    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "gpu_check.py"), "--small", "--steps", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert report["tiny_expert"]["tokens"] == 3 * 3 * 4 and report["tiny_expert"]["seconds_per_step"] > 0
