namespace ZImageSharp.Planning;

/// <summary>A measured time at a size: tokens of one sample (or prompt) and the seconds one pass took.</summary>
public sealed record SpeedPoint(double Tokens, double Seconds);

/// <summary>How fast this machine runs each phase. The default comes from reference runs on an H100 (calibration
/// file); <c>zimage bench</c> measures the card it runs on and writes the same JSON shape.</summary>
public sealed record SpeedProfile
{
    /// <summary>Where the numbers come from (card, software, date).</summary>
    public required string Source { get; init; }

    /// <summary>Pinned host memory to device, one direction.</summary>
    public required double HostToDeviceBytesPerSecond { get; init; }

    /// <summary>One resident bf16 transformer forward of one sample, by sequence tokens (image + padded caption).</summary>
    public required IReadOnlyList<SpeedPoint> TransformerForwardSeconds { get; init; }

    /// <summary>One resident bf16 text-encoder pass of one prompt, by caption tokens.</summary>
    public required IReadOnlyList<SpeedPoint> TextEncodeSeconds { get; init; }

    /// <summary>bf16 VAE decode, per million output pixels.</summary>
    public required double VaeDecodeSecondsPerMegapixel { get; init; }

    /// <summary>bf16 VAE encode, per million input pixels.</summary>
    public required double VaeEncodeSecondsPerMegapixel { get; init; }

    /// <summary>How much longer the VAE takes in float32 than in bf16.</summary>
    public required double VaeFloat32Slowdown { get; init; }

    /// <summary>fp8 weight bytes upcast to bf16 per second (on the compute stream, not hidden).</summary>
    public required double Fp8UpcastBytesPerSecond { get; init; }

    /// <summary>Weight bytes read from their safetensors files and placed per second (page cache or disk, conversion
    /// included): what loading a component from its file costs when no host copy is kept. Not measured on the
    /// reference card: 2 GB/s, the warm-cache rate the reader reached on the development machine (platform notes).</summary>
    public double FileReadBytesPerSecond { get; init; } = 2e9;

    /// <summary>Caption tokens per second when the text encoder runs on the CPU.</summary>
    public required double CpuTextEncodeTokensPerSecond { get; init; }

    /// <summary>The H100 reference profile shipped in the calibration file.</summary>
    public static SpeedProfile Reference => PlannerCalibration.Default.Speed;

    internal double TransformerForward(int sequenceTokens) => Interpolate(TransformerForwardSeconds, sequenceTokens);

    internal double TextEncode(int captionTokens) => Interpolate(TextEncodeSeconds, captionTokens);

    public IReadOnlyList<string> Check()
    {
        var errors = new List<string>();
        void Positive(string name, double value)
        {
            if (!double.IsFinite(value) || value <= 0) errors.Add($"{name} must be a positive number (got {value}).");
        }
        Positive(nameof(HostToDeviceBytesPerSecond), HostToDeviceBytesPerSecond);
        Positive(nameof(VaeDecodeSecondsPerMegapixel), VaeDecodeSecondsPerMegapixel);
        Positive(nameof(VaeEncodeSecondsPerMegapixel), VaeEncodeSecondsPerMegapixel);
        Positive(nameof(VaeFloat32Slowdown), VaeFloat32Slowdown);
        Positive(nameof(Fp8UpcastBytesPerSecond), Fp8UpcastBytesPerSecond);
        Positive(nameof(CpuTextEncodeTokensPerSecond), CpuTextEncodeTokensPerSecond);
        Positive(nameof(FileReadBytesPerSecond), FileReadBytesPerSecond);
        CheckPoints(nameof(TransformerForwardSeconds), TransformerForwardSeconds, errors);
        CheckPoints(nameof(TextEncodeSeconds), TextEncodeSeconds, errors);
        return errors;
    }

    private static void CheckPoints(string name, IReadOnlyList<SpeedPoint> points, List<string> errors)
    {
        if (points.Count == 0)
            errors.Add($"{name} needs at least one measured point.");
        else if (points.Any(p => !(p.Tokens > 0) || !(p.Seconds > 0)))
            errors.Add($"{name} points must have positive tokens and seconds.");
        else if (points.Zip(points.Skip(1)).Any(pair => pair.Second.Tokens <= pair.First.Tokens))
            errors.Add($"{name} points must be sorted by tokens, without repeats.");
    }

    /// <summary>Piecewise linear through the points, extended along the end segments; one point scales linearly.</summary>
    private static double Interpolate(IReadOnlyList<SpeedPoint> points, double tokens)
    {
        if (points.Count == 1) return points[0].Seconds * tokens / points[0].Tokens;
        int upper = 1;
        while (upper < points.Count - 1 && points[upper].Tokens < tokens) upper++;
        var (a, b) = (points[upper - 1], points[upper]);
        double seconds = a.Seconds + (tokens - a.Tokens) * (b.Seconds - a.Seconds) / (b.Tokens - a.Tokens);
        // Below the first point the line may reach zero; a pass never costs less than a tenth of the smallest measured one.
        return Math.Max(seconds, points[0].Seconds * MinimumFractionOfSmallestPass);
    }

    private const double MinimumFractionOfSmallestPass = 0.1;
}
