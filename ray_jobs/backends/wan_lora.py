"""The step-distilled LoRA pair (Wan2.2-Lightning, LightX2V) in the layout its publishers ship:
one file per expert, original Wan key naming, loaded through diffusers' own converter."""

from __future__ import annotations

from pathlib import Path


class LoraDirError(FileNotFoundError):
    """The LoRA folder lacks one of the pair's files."""


# What Wan2.2-Lightning and LightX2V ship: one file per expert, in the original Wan module naming.
LORA_FILES = {"transformer": "high_noise_model.safetensors", "transformer_2": "low_noise_model.safetensors"}
PUBLISHED_LORA_KEY = "diffusion_model.blocks.0.self_attn.q.lora_A.weight"


class LoraLayoutError(ValueError):
    """A LoRA file is not in the layout Wan2.2-Lightning and LightX2V publish, or does not fit the model."""


def _lora_keys(path: Path) -> list[str]:
    """Key names only, read from the file's header: no tensors are loaded."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return list(file.keys())
    except SafetensorError as error:
        raise LoraLayoutError(f"LoRA file {path} is not a readable safetensors file: {error}") from error


def _check_published_layout(path: Path) -> None:
    keys = _lora_keys(path)
    foreign = [key for key in keys if not key.startswith("diffusion_model.")]
    if not keys or foreign:
        found = f"found {foreign[0]!r}" if foreign else "found no tensors"
        raise LoraLayoutError(
            f"LoRA file {path} is not in the original Wan layout that Wan2.2-Lightning and LightX2V ship: "
            f"expected keys like {PUBLISHED_LORA_KEY!r} (lora_A/lora_B or lora_down/lora_up, with .alpha), "
            f"{found}. Use the released high_noise_model / low_noise_model files as they are, not a converted copy.")


def check_lora_dir(lora_dir: str | Path) -> dict[str, Path]:
    """The expert each file of the pair goes into, checked before any model loads."""
    folder = Path(lora_dir)
    files = {component: folder / name for component, name in LORA_FILES.items()}
    missing = [path.name for path in files.values() if not path.exists()]
    if missing:
        raise LoraDirError(f"LoRA folder {folder} is incomplete: missing {', '.join(missing)}")
    for path in files.values():
        _check_published_layout(path)
    return files


def load_step_lora(pipe, files: dict[str, Path], scale: float) -> None:
    """A step-distilled LoRA pair fused into both experts. diffusers' WanPipeline loader converts the
    original Wan naming (and folds each `.alpha` into the weights) on the way in."""
    components = [c for c in files if getattr(pipe, c, None) is not None]
    for component in components:
        path, adapter = files[component], f"steps_{component}"
        try:
            pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=adapter,
                                   load_into_transformer_2=component == "transformer_2")
        except (KeyError, RuntimeError, ValueError) as error:
            raise LoraLayoutError(
                f"LoRA file {path} does not fit {component} of this model ({type(error).__name__}: {error}); "
                "is it the pair for this Wan2.2 model?") from error
        # diffusers only warns about layers the model lacks: half a LoRA would be fused, silently.
        wanted = sum(key.endswith((".lora_A.weight", ".lora_down.weight")) for key in _lora_keys(path))
        landed = sum(adapter in getattr(module, "lora_A", {}) for module in getattr(pipe, component).modules())
        if landed < wanted:
            raise LoraLayoutError(f"LoRA file {path} adapts {wanted} layers but only {landed} of them exist in "
                                  f"{component}: is it the pair for this Wan2.2 model?")
    # Fused: no adapter overhead at each step; the base weights are not needed again in this replica.
    pipe.fuse_lora(components=components, lora_scale=scale)
    pipe.unload_lora_weights()
