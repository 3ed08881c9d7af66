using System.Globalization;

namespace ZImageSharp.Planning;

/// <summary>One timed phase of a calibration generation at a size (medians over the timed runs).</summary>
/// <param name="Phase">One of <see cref="CardMeasurements.TextEncode"/>, <see cref="CardMeasurements.TransformerForward"/>,
/// <see cref="CardMeasurements.StepOverhead"/>, <see cref="CardMeasurements.VaeDecode"/>.</param>
/// <param name="CaptionTokens">Caption tokens after the chat template.</param>
public sealed record PhaseMeasurement(string Phase, int Width, int Height, int CaptionTokens, double Milliseconds);

/// <summary>What <c>zimage bench --calibrate</c> measured on a card, as measured (the profile's speeds are derived
/// from these).</summary>
/// <param name="MatmulTeraflopsPerSecond">bf16 product of two 8192² matrices (512² on the CPU): the rate reference
/// profiles record and are scaled by.</param>
/// <param name="FileReadSource">What was read to time <paramref name="FileReadBytesPerSecond"/> (a weight file, or a
/// temporary file the bench wrote, so the page cache held it).</param>
public sealed record CardMeasurements(
    double MatmulTeraflopsPerSecond,
    double? PinnedHostToDeviceBytesPerSecond,
    double? PageableHostToDeviceBytesPerSecond,
    double FileReadBytesPerSecond,
    string FileReadSource,
    IReadOnlyList<PhaseMeasurement> Phases)
{
    /// <summary>Products of the transformer's own shapes at 1024² (bf16 on a GPU): what its forward actually gets.</summary>
    public double? TransformerMatmulTeraflopsPerSecond { get; init; }

    /// <summary>One text-encoder pass of one prompt.</summary>
    public const string TextEncode = "text encode";
    /// <summary>One transformer forward of one sample, from its embedding to its final layer: without the scheduler
    /// step and the preview between forwards.</summary>
    public const string TransformerForward = "transformer forward";
    /// <summary>What a denoise step costs beyond its forward (scheduler step, progress, preview): reported, not planned.</summary>
    public const string StepOverhead = "step overhead";
    /// <summary>The decode phase of one image.</summary>
    public const string VaeDecode = "VAE decode";
}

/// <summary>
/// A card's own speed profile, written by <c>zimage bench --calibrate</c> and read by <c>plan</c>, <c>doctor</c>, the
/// engine (admission, the server's estimate): the measurements and the <see cref="SpeedProfile"/> derived from them.
/// What calibration does not measure (VAE encode, the float32 VAE slowdown, the fp8 upcast, the CPU text encoder) is
/// the reference profile scaled by the measured rates, and <see cref="NotMeasured"/> lists it.
/// </summary>
public sealed record CardProfile
{
    /// <summary>The file format this build reads and writes; a file of another format is refused, not guessed at.</summary>
    public const int CurrentFormat = 1;

    public required int Format { get; init; }
    public required CardIdentity Card { get; init; }
    /// <summary>UTC, ISO 8601.</summary>
    public required string MeasuredAt { get; init; }
    /// <summary>The zimage build that measured it.</summary>
    public required string Tool { get; init; }
    /// <summary>The model the phases were timed with (its description).</summary>
    public required string Model { get; init; }
    /// <summary>True when that was the tiny demo model: its phase times are not the released model's, so plans made
    /// with this profile say so.</summary>
    public bool DemoModel { get; init; }
    public required CardMeasurements Measurements { get; init; }
    public required SpeedProfile Speed { get; init; }
    /// <summary>The speed fields taken from the scaled reference instead of a measurement.</summary>
    public IReadOnlyList<string> NotMeasured { get; init; } = [];

    public IReadOnlyList<string> Check()
    {
        var errors = new List<string>();
        if (Format != CurrentFormat)
            errors.Add($"its format is {Format}, this build reads format {CurrentFormat} (calibrate again with this build).");
        if (Card is null || string.IsNullOrWhiteSpace(Card.DeviceName)) errors.Add("'card' with a 'deviceName' is missing.");
        if (Measurements is null) errors.Add("'measurements' is missing.");
        if (Speed is null) errors.Add("'speed' is missing.");
        else errors.AddRange(Speed.Check().Select(e => "speed: " + e));
        return errors;
    }

    /// <summary>Derives the profile from what was measured. Forward and text-encode curves come from the phases by
    /// sequence (caption) tokens, the VAE rate from the decode times per megapixel, the link and file rate from their
    /// probes; the rest is <paramref name="reference"/> scaled by the measured rates.</summary>
    public static CardProfile FromMeasurements(CardIdentity card, CardMeasurements measured, string model, bool demoModel,
        string tool, DateTimeOffset at, SpeedProfile? reference = null)
    {
        reference ??= SpeedProfile.Reference;
        var rates = new CardRates(measured.MatmulTeraflopsPerSecond, measured.PinnedHostToDeviceBytesPerSecond,
            measured.PageableHostToDeviceBytesPerSecond);
        var scaled = reference.ScaledTo(rates);
        var notMeasured = new List<string>
        {
            nameof(SpeedProfile.VaeEncodeSecondsPerMegapixel), nameof(SpeedProfile.VaeFloat32Slowdown),
            nameof(SpeedProfile.Fp8UpcastBytesPerSecond), nameof(SpeedProfile.CpuTextEncodeTokensPerSecond),
        };
        IReadOnlyList<SpeedPoint> Curve(string phase, Func<PhaseMeasurement, int> tokens, IReadOnlyList<SpeedPoint> fallback, string field)
        {
            var points = measured.Phases.Where(p => p.Phase == phase)
                .GroupBy(tokens)
                .OrderBy(g => g.Key)
                .Select(g => new SpeedPoint(g.Key, g.Average(p => p.Milliseconds) / 1000))
                .ToList();
            if (points.Count > 0) return points;
            notMeasured.Add(field);
            return fallback;
        }
        var forward = Curve(CardMeasurements.TransformerForward,
            p => new PlannerRequest { Width = p.Width, Height = p.Height, CaptionTokens = p.CaptionTokens }.SequenceTokens,
            scaled.TransformerForwardSeconds, nameof(SpeedProfile.TransformerForwardSeconds));
        var encode = Curve(CardMeasurements.TextEncode, p => p.CaptionTokens, scaled.TextEncodeSeconds, nameof(SpeedProfile.TextEncodeSeconds));
        var decodes = measured.Phases.Where(p => p.Phase == CardMeasurements.VaeDecode).ToList();
        double decode = decodes.Count > 0
            ? decodes.Average(p => p.Milliseconds / 1000 / ((double)p.Width * p.Height / 1e6))
            : scaled.VaeDecodeSecondsPerMegapixel;
        if (decodes.Count == 0) notMeasured.Add(nameof(SpeedProfile.VaeDecodeSecondsPerMegapixel));
        if (measured.PinnedHostToDeviceBytesPerSecond is null) notMeasured.Add(nameof(SpeedProfile.HostToDeviceBytesPerSecond));

        var speed = scaled with
        {
            Source = $"zimage bench --calibrate, {card}, {at.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}, {model}" +
                     $" (not measured, from the reference scaled by matmul and link: {string.Join(", ", notMeasured)})",
            Card = card.DeviceName,
            MatmulTeraflopsPerSecond = measured.MatmulTeraflopsPerSecond,
            TransformerForwardSeconds = forward,
            TextEncodeSeconds = encode,
            VaeDecodeSecondsPerMegapixel = decode,
            FileReadBytesPerSecond = measured.FileReadBytesPerSecond,
            Label = $"profile measured on this card ({card.DeviceName}) by zimage bench --calibrate" + (demoModel ? ", with the tiny demo model" : ""),
        };
        return new CardProfile
        {
            Format = CurrentFormat,
            Card = card,
            MeasuredAt = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            Tool = tool,
            Model = model,
            DemoModel = demoModel,
            Measurements = measured,
            Speed = speed,
            NotMeasured = notMeasured,
        };
    }
}
