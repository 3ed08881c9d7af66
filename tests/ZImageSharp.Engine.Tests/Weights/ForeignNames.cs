using System.Text.RegularExpressions;

namespace ZImageSharp.Engine.Tests.Weights;

/// <summary>
/// The foreign names of diffusers tensors, written from the other direction (diffusers → ComfyUI / BFL) so the key-map
/// tests check the engine's maps against an independent statement of the same tables.
/// </summary>
internal static partial class ForeignNames
{
    public const string ComfyPrefix = "model.diffusion_model.";

    /// <summary>ComfyUI name of a diffusers DiT tensor; q/k/v map to the same fused name (the caller concatenates them).</summary>
    public static string ComfyTransformer(string name)
    {
        name = name.Replace("all_x_embedder.2-1.", "x_embedder.").Replace("all_final_layer.2-1.", "final_layer.")
            .Replace(".attention.to_out.0.", ".attention.out.").Replace(".attention.norm_q.", ".attention.q_norm.")
            .Replace(".attention.norm_k.", ".attention.k_norm.");
        name = QkvPart().Replace(name, ".attention.qkv.weight");
        return ComfyPrefix + name;
    }

    [GeneratedRegex(@"\.attention\.to_[qkv]\.weight$")]
    private static partial Regex QkvPart();

    /// <summary>BFL (ldm) name of a diffusers AutoencoderKL tensor, for a decoder with <paramref name="upBlocks"/> up blocks.</summary>
    public static string BflVae(string name, int upBlocks)
    {
        name = name.Replace(".conv_norm_out.", ".norm_out.").Replace(".conv_shortcut.", ".nin_shortcut.")
            .Replace(".mid_block.resnets.0.", ".mid.block_1.").Replace(".mid_block.resnets.1.", ".mid.block_2.")
            .Replace(".mid_block.attentions.0.group_norm.", ".mid.attn_1.norm.")
            .Replace(".mid_block.attentions.0.to_q.", ".mid.attn_1.q.").Replace(".mid_block.attentions.0.to_k.", ".mid.attn_1.k.")
            .Replace(".mid_block.attentions.0.to_v.", ".mid.attn_1.v.").Replace(".mid_block.attentions.0.to_out.0.", ".mid.attn_1.proj_out.");
        name = DownBlock().Replace(name, m => $"encoder.down.{m.Groups[1].Value}.{(m.Groups[2].Value == "downsamplers.0" ? "downsample" : "block." + m.Groups[3].Value)}.");
        name = UpBlock().Replace(name, m =>
            $"decoder.up.{upBlocks - 1 - int.Parse(m.Groups[1].Value)}.{(m.Groups[2].Value == "upsamplers.0" ? "upsample" : "block." + m.Groups[3].Value)}.");
        return name;
    }

    /// <summary>True for the mid-block attention projections that ldm stores as 1×1 convolutions.</summary>
    public static bool IsBflConvAttention(string bflName) => BflAttentionWeight().IsMatch(bflName);

    [GeneratedRegex(@"^encoder\.down_blocks\.(\d+)\.(downsamplers\.0|resnets\.(\d+))\.")]
    private static partial Regex DownBlock();

    [GeneratedRegex(@"^decoder\.up_blocks\.(\d+)\.(upsamplers\.0|resnets\.(\d+))\.")]
    private static partial Regex UpBlock();

    [GeneratedRegex(@"\.mid\.attn_1\.(q|k|v|proj_out)\.weight$")]
    private static partial Regex BflAttentionWeight();
}
