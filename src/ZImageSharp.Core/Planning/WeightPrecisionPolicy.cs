namespace ZImageSharp.Planning;

/// <summary>How each checkpoint tensor is stored. The transformer's float32 islands (timestep embedder, adaLN
/// modulation, final layer) stay float32 in every placement. fp8 storage applies only to the big matrices inside
/// repeated blocks: embedders, the final layer, norms and the adaLN modulation never become fp8, as diffusers' layerwise
/// casting and SDNQ do (the modulation scales every activation of a block, so its error would be multiplied).</summary>
public static class WeightPrecisionPolicy
{
    /// <summary>True when <paramref name="key"/> is stored as fp8 e4m3 under an fp8 placement.</summary>
    public static bool StoresAsFp8(Component component, string key, int rank) =>
        component != Component.Vae
        && rank == 2
        && key.EndsWith(".weight", StringComparison.Ordinal)
        && BlockKey.TryParse(component, key, out _, out _)
        && !KeepsFloat32(component, key)
        && !key.Contains("norm", StringComparison.Ordinal);

    /// <summary>
    /// True for the transformer keys whose weights stay float32 (and compute in float32) whatever the placement: the
    /// timestep embedder, the adaLN modulation Linear of every modulated block and the whole final layer. They produce
    /// the conditioning vector, every block's scales and gates and the output projection, and carry over half of the
    /// bf16 error on the reference fixtures (docs/model.md, "Precision"). At the released size: 128,078,912 of
    /// 6,154,908,736 parameters, 256 MB more than in bf16.
    /// </summary>
    public static bool KeepsFloat32(Component component, string key) =>
        component == Component.Transformer
        && (key.StartsWith("t_embedder.", StringComparison.Ordinal)
            || key.StartsWith("all_final_layer.", StringComparison.Ordinal)
            || key.Contains(".adaLN_modulation.", StringComparison.Ordinal));
}
