namespace ZImageSharp.Contracts;

public enum GenerationPhase { Queued, Tokenize, Encode, Denoise, Decode, Png, Done }

/// <summary>A small RGB picture of the current latent (8 bits a channel, row-major, no padding).</summary>
public sealed record PreviewImage(int Width, int Height, byte[] Rgb);

/// <summary>Reported after each step of a phase. <see cref="Eta"/> is null until a step has been timed.</summary>
public sealed record GenerationProgress(
    GenerationPhase Phase,
    int Step,
    int TotalSteps,
    TimeSpan Elapsed,
    TimeSpan? Eta,
    PreviewImage? Preview = null);
