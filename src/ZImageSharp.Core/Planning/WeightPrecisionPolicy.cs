namespace ZImageSharp.Planning;

/// <summary>Which tensors fp8 storage applies to. Only the big matrices inside repeated blocks are stored as fp8:
/// embedders, the final layer, norms and the adaLN modulation stay bf16, as diffusers' layerwise casting and SDNQ do
/// (the modulation scales every activation of a block, so its error would be multiplied).</summary>
public static class WeightPrecisionPolicy
{
    /// <summary>True when <paramref name="key"/> is stored as fp8 e4m3 under an fp8 placement.</summary>
    public static bool StoresAsFp8(Component component, string key, int rank) =>
        component != Component.Vae
        && rank == 2
        && key.EndsWith(".weight", StringComparison.Ordinal)
        && BlockKey.TryParse(component, key, out _, out _)
        && !key.Contains("adaLN_modulation", StringComparison.Ordinal)
        && !key.Contains("norm", StringComparison.Ordinal);
}
