namespace ZImageSharp.Planning;

/// <summary>How an image and a caption become the transformer's token sequence (spec §2.4, §2.5, §8.2). These are
/// facts of the architecture that requests are validated against (sizes in multiples of 16, captions up to 512 tokens),
/// so Core owns them and the model code reads them from here.</summary>
public static class ImageSequence
{
    public const int VaeScaleFactor = 8;
    public const int PatchSize = 2;
    public const int PixelsPerImageToken = VaeScaleFactor * PatchSize;
    public const int SequenceMultiple = 32;
    public const int MaxCaptionTokens = 512;
    public const int LatentChannels = 16;
    public const int ImageChannels = 3;

    public static int PadToSequenceMultiple(int tokens) =>
        (tokens + SequenceMultiple - 1) / SequenceMultiple * SequenceMultiple;
}
