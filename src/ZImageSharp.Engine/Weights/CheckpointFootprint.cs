using System.Text.RegularExpressions;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Weights;

/// <summary>The planner's view of a checkpoint, from its headers only (no tensor is read): exact bytes of every
/// tensor the engine will load. The text encoder's last layer and final norm are left out: Z-Image never runs them.</summary>
public static partial class CheckpointFootprint
{
    /// <param name="computeElementBytes">4 when the engine computes in float32; the VAE's sizes stay 2-byte (the
    /// planner widens them itself).</param>
    public static ModelFootprint Read(CheckpointLayout layout, int computeElementBytes = 2)
    {
        var teConfig = layout.TextEncoder.ConfigPath is { } path ? Qwen3Config.FromFile(path) : Qwen3Config.Released;
        int neededLayers = teConfig.NumHiddenLayers - 1;
        bool Needed(string key) => LayerIndex().Match(key) is { Success: true } m
            ? int.Parse(m.Groups[1].Value) < neededLayers
            : key.StartsWith("embed_tokens.", StringComparison.Ordinal);
        return ModelMemoryDescription.FromTensors(
            Shapes(layout.TextEncoder, Needed),
            Shapes(layout.Transformer, _ => true),
            // Decoder and encoder: the engine builds both (image-to-image encodes), and places them together.
            Shapes(layout.Vae, key => key.StartsWith("decoder.", StringComparison.Ordinal) || key.StartsWith("encoder.", StringComparison.Ordinal)),
            computeElementBytes);
    }

    private static List<(string Key, long[] Shape)> Shapes(ComponentCheckpoint checkpoint, Func<string, bool> keep)
    {
        using var source = checkpoint.OpenWeights();
        return source.Names.Where(keep).Select(name => (name, source.Describe(name).Shape.ToArray())).ToList();
    }

    [GeneratedRegex(@"^layers\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
