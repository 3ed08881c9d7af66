using System.Globalization;
using System.Text.Json.Serialization;

namespace ZImageSharp.Planning;

/// <summary>A measured time at a size: tokens of one sample (or prompt) and the seconds one pass took.</summary>
public sealed record SpeedPoint(double Tokens, double Seconds);

/// <summary>How fast this machine runs each phase. The default comes from reference runs on an H100 (calibration
/// file), scaled to the card at hand by its measured matmul rate and link (<see cref="ScaledTo"/>);
/// <c>zimage bench --calibrate</c> measures the card it runs on and writes a <see cref="CardProfile"/> holding one.</summary>
public sealed record SpeedProfile
{
    /// <summary>Where the numbers come from (card, software, date).</summary>
    public required string Source { get; init; }

    /// <summary>The card the numbers were measured on, as its driver names it (null: not recorded).</summary>
    public string? Card { get; init; }

    /// <summary>That card's bf16 matrix-product rate, as <c>zimage doctor</c> measures it: what a profile is scaled by
    /// when it stands in for another card (null: not recorded, so it cannot be scaled).</summary>
    public double? MatmulTeraflopsPerSecond { get; init; }

    /// <summary>How plans and the server name this profile ("reference … scaled by …", "profile FILE …"); set by
    /// whoever chose it (<see cref="SpeedProfiles"/>), not stored.</summary>
    [JsonIgnore]
    public string Label
    {
        get => _label ?? $"{Source}";
        init => _label = value;
    }
    private readonly string? _label;

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

    /// <summary>The H100 reference profile shipped in the calibration file, unscaled.</summary>
    public static SpeedProfile Reference => ReferenceLabelled.Value;

    private static readonly Lazy<SpeedProfile> ReferenceLabelled = new(() =>
        PlannerCalibration.Default.Speed with { Label = $"reference {PlannerCalibration.Default.Speed.Card ?? "card"} profile, unscaled" });

    /// <summary>This profile stood in for a card with other rates: the phases that compute (transformer, text encoder,
    /// VAE, fp8 upcast) take <c>this card's matmul rate / that card's</c> as long, copies to the device run at the
    /// measured pinned link. File reads and the CPU text encoder do not depend on the card and keep their rates.</summary>
    /// <exception cref="InvalidOperationException">This profile does not record its own matmul rate.</exception>
    public SpeedProfile ScaledTo(CardRates rates)
    {
        if (MatmulTeraflopsPerSecond is not { } own)
            throw new InvalidOperationException($"The speed profile '{Source}' records no matmul rate of its own, so it cannot be scaled to another card.");
        if (!(rates.MatmulTeraflopsPerSecond > 0))
            throw new ArgumentOutOfRangeException(nameof(rates), rates.MatmulTeraflopsPerSecond, "The measured matmul rate must be positive.");
        double slower = own / rates.MatmulTeraflopsPerSecond;
        static IReadOnlyList<SpeedPoint> Scale(IReadOnlyList<SpeedPoint> points, double factor) =>
            points.Select(p => p with { Seconds = p.Seconds * factor }).ToList();
        var link = rates.PinnedHostToDeviceBytesPerSecond;
        string card = Card ?? "reference card";
        string linkText = link is { } l ? $" and link {Gb(l)} GB/s" : "";
        return this with
        {
            TransformerForwardSeconds = Scale(TransformerForwardSeconds, slower),
            TextEncodeSeconds = Scale(TextEncodeSeconds, slower),
            VaeDecodeSecondsPerMegapixel = VaeDecodeSecondsPerMegapixel * slower,
            VaeEncodeSecondsPerMegapixel = VaeEncodeSecondsPerMegapixel * slower,
            Fp8UpcastBytesPerSecond = Fp8UpcastBytesPerSecond / slower,
            HostToDeviceBytesPerSecond = link ?? HostToDeviceBytesPerSecond,
            Label = $"reference {card} profile, scaled by measured matmul {rates.MatmulTeraflopsPerSecond.ToString("0.#", CultureInfo.InvariantCulture)} TFLOP/s{linkText}",
        };
    }

    internal static string Gb(double bytesPerSecond) => (bytesPerSecond / 1e9).ToString("0.#", CultureInfo.InvariantCulture);

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
        if (MatmulTeraflopsPerSecond is { } tflops) Positive(nameof(MatmulTeraflopsPerSecond), tflops);
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
