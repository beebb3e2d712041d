"""A tiny, random-initialised Wan2.2 A14B-shaped pipeline: the real diffusers path on a CPU in seconds.

Same components as the shipped T2V-A14B (UMT5 text encoder, Wan VAE, two transformers switched at
`boundary_ratio`), shrunk to a few layers, as diffusers' own `test_wan_22.py` does. Its frames are
noise; what it proves is that loading, expert switching, CFG and decoding run for real.
"""

from __future__ import annotations

from pathlib import Path

TINY_WAN_BOUNDARY = 0.875  # the official A14B boundary, so both experts run within few steps


def build_tiny_wan(out_dir: str | Path, seed: int = 0) -> Path:
    """Build the tiny pipeline from code and `save_pretrained` it to `out_dir` (~0.5 MB)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    tokenizer = ByT5Tokenizer()
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    )
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    experts = []
    for expert_seed in (seed + 1, seed + 2):  # two different experts, as A14B ships
        torch.manual_seed(expert_seed)
        experts.append(WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
            out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        ))
    # Official Wan2.2 T2V-A14B sample_shift is 12.0 (wan/configs); the conversion script sets 3.0.
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=12.0)
    pipe = WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
        transformer=experts[0], transformer_2=experts[1], boundary_ratio=TINY_WAN_BOUNDARY,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out)
    return out


# Original Wan module names (Wan2.2 wan/modules/model.py) -> the diffusers layers they land in: every
# linear layer of a block that the Lightning / LightX2V LoRAs adapt.
WAN_LORA_TARGETS = {
    "self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k", "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
}
LORA_NAMINGS = {"lora_A": ("lora_A", "lora_B"), "lora_down": ("lora_down", "lora_up")}


def build_tiny_step_lora(model_dir: str | Path, out_dir: str | Path, rank: int = 4, alpha: float = 2.0,
                         naming: str = "lora_A", seed: int = 0) -> Path:
    """A random LoRA pair for the tiny experts, in the layout Wan2.2-Lightning and LightX2V publish:
    `high_noise_model` / `low_noise_model.safetensors`, keys in the original Wan naming
    (`diffusion_model.blocks.N.self_attn.q.lora_A.weight`, `...lora_B.weight`, `....alpha`).

    `naming` "lora_down" writes the older lora_down / lora_up spelling of the same tensors. Random
    up-projections (not the usual zeros) so the LoRA visibly changes the output; `alpha` != `rank`
    so a loader that ignores alpha fuses the wrong weights. Shapes come from the saved experts.
    """
    import torch
    from diffusers import WanTransformer3DModel
    from safetensors.torch import save_file

    down, up = LORA_NAMINGS[naming]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for n, (component, name) in enumerate((("transformer", "high_noise_model"), ("transformer_2", "low_noise_model"))):
        expert = WanTransformer3DModel.from_pretrained(Path(model_dir) / component)
        generator = torch.Generator().manual_seed(seed + n)
        tensors = {}
        for block in range(len(expert.blocks)):
            for wan_name, layer in WAN_LORA_TARGETS.items():
                features_out, features_in = expert.get_submodule(f"blocks.{block}.{layer}").weight.shape
                key = f"diffusion_model.blocks.{block}.{wan_name}"
                tensors[f"{key}.{down}.weight"] = torch.randn(rank, features_in, generator=generator) / features_in**0.5
                tensors[f"{key}.{up}.weight"] = torch.randn(features_out, rank, generator=generator) / rank**0.5
                tensors[f"{key}.alpha"] = torch.tensor(alpha)
        save_file(tensors, out / f"{name}.safetensors")
    return out
