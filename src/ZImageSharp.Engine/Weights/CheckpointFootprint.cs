using System.Text.RegularExpressions;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Weights;

/// <summary>The planner's view of a checkpoint, from its headers only (no tensor is read): exact bytes of every
/// tensor the engine will load. The text encoder's last layer and final norm are left out: Z-Image never runs them.</summary>
public static partial class CheckpointFootprint
{
    public static ModelFootprint Read(CheckpointLayout layout)
    {
        var teConfig = layout.TextEncoder.ConfigPath is { } path ? Qwen3Config.FromFile(path) : Qwen3Config.Released;
        int neededLayers = teConfig.NumHiddenLayers - 1;
        bool Needed(string key) => LayerIndex().Match(key) is { Success: true } m
            ? int.Parse(m.Groups[1].Value) < neededLayers
            : key.StartsWith("embed_tokens.", StringComparison.Ordinal);
        return ModelFootprint.FromTensors(
            Sizes(layout.TextEncoder, Component.TextEncoder, Needed),
            Sizes(layout.Transformer, Component.Transformer, _ => true),
            Sizes(layout.Vae, Component.Vae, _ => true));
    }

    private static List<TensorSize> Sizes(ComponentCheckpoint checkpoint, Component component, Func<string, bool> keep)
    {
        using var source = checkpoint.OpenWeights();
        return source.Names.Where(keep).Select(name => TensorSize.FromShape(component, name, source.Describe(name).Shape)).ToList();
    }

    [GeneratedRegex(@"^layers\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
