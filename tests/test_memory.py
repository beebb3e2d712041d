"""Replica shapes that fit the GPUs' memory, for the cards studios rent (pure planner logic)."""

import pytest

from ray_jobs.memory import ShapeDoesNotFitError, card_gib_of, fit_replica, peak_parts
from ray_jobs.planner import plan_replicas


def test_the_figures_add_up_to_the_measured_parts():
    resident = dict(peak_parts("resident", 1))
    assert resident["2 experts"] == pytest.approx(53.2) and resident["text encoder"] == 10.6
    assert resident["activations"] == pytest.approx(34.6)  # one expert forward at 1280x720x81
    assert dict(peak_parts("resident", 8))["VAE decode"] == pytest.approx(10.4)  # decode outgrows 1/8 of the activations
    assert dict(peak_parts("resident", 1, 832, 480, 81))["activations"] == pytest.approx(34.6 * (52 * 30) / (80 * 45))


@pytest.mark.parametrize("card, gpus, mode", [
    (141, 1, "resident"),   # an H200 holds both experts, the encoder and the activations
    (80, 1, "offload"),     # the official single-GPU recipe on 80 GB: --offload_model True
    (80, 2, "fsdp"),
    (80, 8, "fsdp"),
    (48, 1, None),          # one expert plus 720p activations does not fit 48 GB
    (48, 4, "fsdp"),
    (24, 1, None),
    (24, 8, None),          # even sharded over 8, the encoder and the VAE decode leave no room
])
def test_the_fastest_mode_that_fits(card, gpus, mode):
    plan = fit_replica(gpus, card)
    assert (plan.mode if plan else None) == mode
    if plan:
        assert plan.per_gpu_gib <= plan.usable_gib and plan.mode in plan.explain()


def test_the_planner_skips_shapes_that_do_not_fit():
    plan = plan_replicas([8], 1, None, gpu_memory_gib=48)
    assert plan.gpus_per_replica in (4, 5, 8) and plan.memory.mode == "fsdp"
    assert "too large for the GPUs' memory: 1 GPU(s), 2 GPU(s)" in plan.explain()
    many = plan_replicas([8, 8], 128, None, gpu_memory_gib=80)  # throughput: sixteen 1-GPU replicas, offloading
    assert (many.gpus_per_replica, many.replicas, many.memory.mode) == (1, 16, "offload")
    big = plan_replicas([8], 120, None, gpu_memory_gib=141)
    assert (big.gpus_per_replica, big.memory.mode) == (1, "resident")


def test_a_shape_that_cannot_fit_is_refused_with_the_numbers():
    with pytest.raises(ShapeDoesNotFitError, match=r"in 24 GiB GPUs \(22.8 usable\): 1 GPU\(s\) offload 63.2 GiB; .*8 GPU\(s\) fsdp 29.6 GiB"):
        plan_replicas([8], 4, None, gpu_memory_gib=24)
    with pytest.raises(ShapeDoesNotFitError, match="1 GPU"):
        plan_replicas([1], 4, None, gpu_memory_gib=48)
    small = plan_replicas([1], 4, None, gpu_memory_gib=48, clip_size=(832, 480, 81))  # 480p fits one 48 GB card
    assert small.memory.mode == "offload" and small.memory.per_gpu_gib == pytest.approx(43.6)


@pytest.mark.parametrize("kind, gib", [("H100", 79.6), ("NVIDIA-H200", 139.8), ("A10G", 22.0), ("TPU-V4", None)])
def test_card_memory_from_rays_accelerator_type(kind, gib):
    assert card_gib_of(kind) == gib
