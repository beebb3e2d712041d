"""What a Wan2.2 A14B replica needs on each GPU, and which loading mode makes it fit. Pure.

Figures (bf16; measured on one H200 with diffusers 0.42.1, or from the model's parameter counts):
- each expert (high-noise `transformer`, low-noise `transformer_2`): 14.29 B params, 26.6 GiB;
- the UMT5-XXL text encoder: ~5.7 B params, 10.6 GiB;
- activations of one expert forward at 1280x720x81 (75,600 tokens): 34.6 GiB peak, in proportion to
  the tokens; a sequence-parallel gang of G ranks holds 1/G of them each;
- the VAE decode of 1280x720x81: 10.4 GiB, in proportion to the pixels (rank 0 only).

Modes, fastest first:
- `resident`: every component on every rank's GPU;
- `offload`: one model on the GPU at a time (diffusers' model CPU offload: the idle expert and the
  text encoder wait in host memory), the official single-GPU recipe (`--offload_model True`);
- `fsdp`: the experts' blocks sharded over the G ranks (FSDP), the text encoder replicated.
"""

from __future__ import annotations

from dataclasses import dataclass

EXPERT_GIB = 26.6
TEXT_ENCODER_GIB = 10.6
ACTIVATION_GIB_720P = 34.6
VAE_DECODE_GIB_720P = 10.4
TOKENS_720P = (1280 // 16) * (720 // 16) * ((81 - 1) // 4 + 1)  # 75,600: patches of 2x2 on the 8x VAE grid
PIXELS_720P = 1280 * 720 * 81
CUDA_OVERHEAD_GIB = 2.0  # context, cuBLAS workspaces, allocator fragmentation
USABLE_SHARE = 0.95  # never plan to the last byte
# Marketing sizes in GB to what the driver reports in GiB (an "80 GB" card shows 80 GiB, an H200 ~139).
KNOWN_CARDS_GIB = {"H200": 139.8, "H100": 79.6, "A100": 79.2, "L40S": 44.4, "L40": 44.4, "A10G": 22.0,
                   "L4": 22.0, "RTX4090": 23.6, "A6000": 47.5}
MODES = ("resident", "offload", "fsdp")


class ShapeDoesNotFitError(ValueError):
    """No loading mode fits the replica in the GPUs' memory; the message gives the numbers."""


@dataclass(frozen=True)
class MemoryPlan:
    mode: str
    gpus: int
    per_gpu_gib: float
    usable_gib: float
    parts: tuple[tuple[str, float], ...]  # what fills each GPU at its peak

    def explain(self) -> str:
        parts = " + ".join(f"{name} {gib:.1f}" for name, gib in self.parts)
        return f"{self.mode}: {self.per_gpu_gib:.1f} GiB per GPU of {self.usable_gib:.1f} usable ({parts})"


def usable_gib(card_gib: float) -> float:
    return card_gib * USABLE_SHARE


def activation_gib(width: int, height: int, frames: int) -> float:
    tokens = (width // 16) * (height // 16) * ((frames - 1) // 4 + 1)
    return ACTIVATION_GIB_720P * tokens / TOKENS_720P


def vae_decode_gib(width: int, height: int, frames: int) -> float:
    return VAE_DECODE_GIB_720P * width * height * frames / PIXELS_720P


def peak_parts(mode: str, gpus: int, width: int = 1280, height: int = 720, frames: int = 81) -> tuple[tuple[str, float], ...]:
    """What one rank's GPU holds at its peak in `mode` (denoising or decoding, whichever is larger)."""
    activations, decode = activation_gib(width, height, frames) / gpus, vae_decode_gib(width, height, frames)
    working = ("activations", activations) if activations >= decode else ("VAE decode", decode)
    if mode == "resident":
        weights = (("2 experts", 2 * EXPERT_GIB), ("text encoder", TEXT_ENCODER_GIB))
    elif mode == "offload":  # the active expert only; the encoder and the VAE take turns with it
        weights = (("1 expert", EXPERT_GIB),)
        working = ("activations", activations) if activations + EXPERT_GIB >= decode else ("VAE decode", decode - EXPERT_GIB)
    elif mode == "fsdp":
        weights = ((f"2 experts / {gpus}", 2 * EXPERT_GIB / gpus), ("text encoder", TEXT_ENCODER_GIB))
    else:
        raise ValueError(f"unknown memory mode {mode!r}; one of {', '.join(MODES)}")
    return (*weights, working, ("CUDA overhead", CUDA_OVERHEAD_GIB))


def modes_for(gpus: int) -> tuple[str, ...]:
    """Offload is the single-GPU recipe; FSDP needs ranks to shard over."""
    return ("resident", "offload") if gpus == 1 else ("resident", "fsdp")


def fit_replica(gpus: int, card_gib: float, width: int = 1280, height: int = 720, frames: int = 81) -> MemoryPlan | None:
    """The fastest mode in which a replica of `gpus` ranks fits cards of `card_gib`; None if none does."""
    for mode in modes_for(gpus):
        parts = peak_parts(mode, gpus, width, height, frames)
        need = sum(gib for _, gib in parts)
        if need <= usable_gib(card_gib):
            return MemoryPlan(mode, gpus, round(need, 1), round(usable_gib(card_gib), 1), parts)
    return None


def refusal(degrees: list[int], card_gib: float, width: int, height: int, frames: int) -> str:
    """Why no shape fits, with each shape's smallest need."""
    needs = []
    for gpus in degrees:
        best = min(modes_for(gpus), key=lambda m: sum(g for _, g in peak_parts(m, gpus, width, height, frames)))
        needs.append(f"{gpus} GPU(s) {best} {sum(g for _, g in peak_parts(best, gpus, width, height, frames)):.1f} GiB")
    return (f"no replica shape fits {width}x{height}x{frames} in {card_gib:g} GiB GPUs ({usable_gib(card_gib):.1f} usable): "
            + "; ".join(needs) + ". Use larger GPUs, more GPUs per node, or a smaller clip size (STARLOOM_CLIP_SIZE=832x480)")


def card_gib_of(accelerator_type: str) -> float | None:
    """GPU memory from Ray's accelerator type (e.g. "H100"); None when unknown."""
    name = accelerator_type.upper().replace("NVIDIA-", "").replace("-", "")
    for card, gib in KNOWN_CARDS_GIB.items():
        if name.startswith(card.upper()):
            return gib
    return None


def with_memory_mode(settings, mode: str):
    """Backend settings loading the way `mode` says: offload turns on model CPU offload, fsdp shards
    the experts' blocks. "" or resident leaves the settings as the user gave them."""
    if mode == "offload":
        return settings.model_copy(update={"offload_idle_expert": True})
    if mode == "fsdp":
        return settings.model_copy(update={"shard_weights": True})
    return settings
