using System.Text.RegularExpressions;

namespace ZImageSharp.Planning;

/// <summary>What part of the transformer's sequence a block reads: its compute grows with that many tokens.</summary>
public enum BlockInput { ImageTokens, CaptionTokens, AllTokens }

/// <summary>Finds the repeated block a checkpoint key belongs to (the units weights are streamed in).</summary>
internal static partial class BlockKey
{
    /// <summary>Block name ("layers.12", "noise_refiner.0") and what it reads, or false for a tensor outside blocks.</summary>
    public static bool TryParse(Component component, string key, out string name, out BlockInput input)
    {
        name = "";
        input = BlockInput.AllTokens;
        var match = component switch
        {
            Component.Transformer => TransformerBlock().Match(key),
            Component.TextEncoder => TextEncoderLayer().Match(key),
            _ => Match.Empty,
        };
        if (!match.Success) return false;
        name = match.Groups["name"].Value;
        input = match.Groups["kind"].Value switch
        {
            "noise_refiner" => BlockInput.ImageTokens,
            "context_refiner" => BlockInput.CaptionTokens,
            _ => BlockInput.AllTokens,
        };
        return true;
    }

    /// <summary>Execution order: noise refiner, context refiner, then the main layers, each by index.</summary>
    public static (int Stage, int Index) Order(string name)
    {
        int dot = name.LastIndexOf('.');
        int index = int.Parse(name.AsSpan(dot + 1), System.Globalization.CultureInfo.InvariantCulture);
        int stage = name[..dot] switch
        {
            "noise_refiner" => 0,
            "context_refiner" => 1,
            _ => 2,
        };
        return (stage, index);
    }

    [GeneratedRegex(@"^(?<name>(?<kind>layers|noise_refiner|context_refiner)\.[0-9]+)\.")]
    private static partial Regex TransformerBlock();

    // Qwen3 checkpoints name layers "model.layers.N."; some exports drop the "model." prefix.
    [GeneratedRegex(@"^(model\.)?(?<name>(?<kind>layers)\.[0-9]+)\.")]
    private static partial Regex TextEncoderLayer();
}
