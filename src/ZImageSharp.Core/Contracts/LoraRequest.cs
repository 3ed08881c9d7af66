namespace ZImageSharp.Contracts;

/// <summary>One LoRA a request applies: a name in the server's LoRA folder (or, from the CLI, an absolute path) and its
/// strength (1 = as trained; negative values subtract it).</summary>
public sealed record LoraRequest(string Name, float Strength = 1f)
{
    public const float MinStrength = -4f;
    public const float MaxStrength = 4f;
    public const int MaxCount = 8;
}
