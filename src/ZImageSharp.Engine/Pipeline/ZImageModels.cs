using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Models.TextEncoder;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Models.Vae;
using ZImageSharp.Engine.Tokenization;

namespace ZImageSharp.Engine.Pipeline;

/// <summary>How the weights were obtained, which decides what a user is told about the images.</summary>
public enum ModelOrigin
{
    /// <summary>Toy widths with seeded random weights: runs the whole path; it draws soft coloured blobs the seed decides.</summary>
    Demo,
    /// <summary>The released architecture with random weights built on the device: right speed and memory, no picture.</summary>
    RandomReleased,
    /// <summary>Weights read from a checkpoint.</summary>
    Checkpoint,
}

/// <summary>The loaded components of one Z-Image model. Owns them.</summary>
public sealed class ZImageModels : IDisposable
{
    public required string Name { get; init; }
    public required ModelOrigin Origin { get; init; }
    public required string Description { get; init; }
    public required QwenTokenizer Tokenizer { get; init; }
    public required Qwen3Model TextEncoder { get; init; }
    public required ZImageTransformer Transformer { get; init; }
    public required AutoencoderKL Vae { get; init; }
    /// <summary>The scheduler's flow-matching shift (scheduler_config.json; 3.0 for Turbo).</summary>
    public required double Shift { get; init; }

    /// <summary>The request defaults of these weights (<see cref="Weights.ModelPresets"/>).</summary>
    public Contracts.GenerationPreset Preset { get; init; } = Contracts.GenerationPreset.Turbo;

    /// <summary>For a checkpoint loaded by the plan: its open weight files. The modules are then on the meta device,
    /// empty, until a <see cref="ComponentPlacer"/> places them; null when the modules hold their weights.</summary>
    public ModelWeightFiles? Files { get; init; }

    public void Dispose()
    {
        TextEncoder.Dispose();
        Transformer.Dispose();
        Vae.Dispose();
        Files?.Dispose();
    }
}
