namespace ZImageSharp.Contracts;

/// <summary>Describes the model that answers requests, so that callers can tell the demo model from real weights.</summary>
public sealed record ModelInfo(string Name, bool IsDemo, string Description, RequestLimits Limits)
{
    /// <summary>The request defaults (docs/presets.md): its name, values and where it came from.</summary>
    public GenerationPreset Preset => Limits.Preset;
}

/// <summary>The engine as the server and the CLI see it. Implementations are safe to call from one thread at a
/// time per device; the server runs one worker per GPU.</summary>
public interface IImageGenerator
{
    ModelInfo Model { get; }

    /// <summary>Runs a whole generation. Throws <see cref="Errors.InvalidRequestException"/> for bad input,
    /// <see cref="Errors.NoPlanFitsException"/> when the request cannot fit this device, and
    /// <see cref="OperationCanceledException"/> when cancelled (checked between steps).</summary>
    Task<GenerationResult> GenerateAsync(
        GenerationRequest request,
        IProgress<GenerationProgress>? progress,
        CancellationToken cancellationToken);
}
