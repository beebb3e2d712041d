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


def build_tiny_step_lora(model_dir: str | Path, out_dir: str | Path, rank: int = 4, seed: int = 0) -> Path:
    """A random LoRA pair for the tiny experts, in the Wan2.2-Lightning file layout, for the LoRA path.

    Random up-projections (not the usual zeros) so the LoRA visibly changes the output.
    """
    import torch
    from diffusers import WanPipeline, WanTransformer3DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for n, (component, name) in enumerate((("transformer", "high_noise_model"), ("transformer_2", "low_noise_model"))):
        torch.manual_seed(seed + n)
        expert = WanTransformer3DModel.from_pretrained(Path(model_dir) / component)
        expert.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                      target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
        WanPipeline.save_lora_weights(out, transformer_lora_layers=get_peft_model_state_dict(expert),
                                      weight_name=f"{name}.safetensors")
    return out
