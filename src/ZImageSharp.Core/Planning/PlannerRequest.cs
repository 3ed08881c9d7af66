using ZImageSharp.Contracts;

namespace ZImageSharp.Planning;

/// <summary>What a request asks of the device: its size, caption length, images and guidance.</summary>
public sealed record PlannerRequest
{
    /// <summary>The text encoder's maximum sequence (chat template included).</summary>
    public const int MaxCaptionTokens = ImageSequence.MaxCaptionTokens;

    public int Width { get; init; } = 1024;
    public int Height { get; init; } = 1024;

    /// <summary>Caption tokens after the chat template; unknown before tokenization, so admission plans for the maximum.</summary>
    public int CaptionTokens { get; init; } = MaxCaptionTokens;

    /// <summary>The negative prompt's tokens after the chat template: with guidance it is encoded too and its sample
    /// runs beside the positive one, padded to the longer of the two. Unknown before tokenization: the maximum.</summary>
    public int NegativeCaptionTokens { get; init; } = MaxCaptionTokens;

    public int Count { get; init; } = 1;

    /// <summary>Classifier-free guidance on: every forward also runs the negative branch.</summary>
    public bool Guidance { get; init; }

    public int Steps { get; init; } = 8;

    /// <summary>Image-to-image: the VAE encoder runs first.</summary>
    public bool EncodesImage { get; init; }

    /// <summary>Samples in one transformer forward: count × (2 with guidance).</summary>
    public int Batch => Count * (Guidance ? 2 : 1);

    /// <summary>Prompts the text encoder runs (the negative prompt with guidance); images share their prompt.</summary>
    public int PromptsEncoded => Guidance ? 2 : 1;

    /// <summary>Caption tokens each encoded prompt and each transformer sample is sized for: the positive prompt's, or
    /// with guidance the longer of it and the negative prompt's.</summary>
    internal int ClampedCaptionTokens => Math.Clamp(Guidance ? Math.Max(CaptionTokens, NegativeCaptionTokens) : CaptionTokens, 1, MaxCaptionTokens);

    /// <summary>Image tokens padded to the sequence multiple (spec §8.2: Np).</summary>
    internal int ImageTokens => PadToSequenceMultiple(
        Width / ImageSequence.PixelsPerImageToken * (Height / ImageSequence.PixelsPerImageToken));

    /// <summary>Caption tokens padded to the sequence multiple (spec §8.2: Lp).</summary>
    internal int PaddedCaptionTokens => PadToSequenceMultiple(ClampedCaptionTokens);

    /// <summary>Tokens of one sample in the unified stream (S = Np + Lp).</summary>
    internal int SequenceTokens => ImageTokens + PaddedCaptionTokens;

    internal long Pixels => (long)Width * Height;

    public ImageSize Size => new(Width, Height);

    public PlannerRequest WithSize(ImageSize size) => this with { Width = size.Width, Height = size.Height };

    /// <summary>From a validated request; without a token count the caption is assumed to be as long as allowed.</summary>
    public static PlannerRequest From(GenerationRequest request, int? captionTokens = null, int? negativeCaptionTokens = null) => new()
    {
        Width = request.Width,
        Height = request.Height,
        CaptionTokens = captionTokens ?? MaxCaptionTokens,
        NegativeCaptionTokens = negativeCaptionTokens ?? MaxCaptionTokens,
        Count = request.Count,
        Guidance = request.GuidanceScale > 0,
        Steps = request.Steps,
        EncodesImage = request.EncodesImage,
    };

    public override string ToString() =>
        $"{Width}x{Height}, {Count} image{(Count == 1 ? "" : "s")}, {CaptionTokens} caption tokens, guidance {(Guidance ? "on" : "off")}, {Steps} steps";

    private static int PadToSequenceMultiple(int tokens) => ImageSequence.PadToSequenceMultiple(tokens);
}
