namespace ZImageSharp.Planning;

/// <summary>A measurement an activation curve was fitted to: bytes above the weights at a batch and size.</summary>
public sealed record MeasuredActivation(string Label, int Batch, double Units, double GiB);

/// <summary>Activation bytes of one phase: constant + batch·(perUnit·units + perUnitSquared·units²), where units are
/// tokens of one sample (text encoder, transformer) or pixels of one image (VAE).</summary>
public sealed record ActivationCurve
{
    public required string Units { get; init; }
    public required double ConstantBytes { get; init; }
    public required double BytesPerUnit { get; init; }
    public double BytesPerUnitSquared { get; init; }

    /// <summary>How the coefficients were obtained, and what is assumed rather than measured.</summary>
    public string Note { get; init; } = "";

    /// <summary>The measurements the coefficients reproduce (checked by the planner tests).</summary>
    public IReadOnlyList<MeasuredActivation> Measured { get; init; } = [];

    public long Predict(int batch, double units) =>
        (long)Math.Ceiling(ConstantBytes + batch * (BytesPerUnit * units + BytesPerUnitSquared * units * units));
}

/// <summary>Activation sizes of every phase, from the calibration file (the only place these numbers live).</summary>
public sealed record ActivationModel
{
    public required string Source { get; init; }

    /// <summary>Units: caption tokens of one prompt; batch: prompts encoded together.</summary>
    public required ActivationCurve TextEncode { get; init; }

    /// <summary>Units: sequence tokens of one sample (padded image + padded caption); batch: samples per forward.</summary>
    public required ActivationCurve TransformerForward { get; init; }

    /// <summary>Units: output pixels of one image (or one tile); batch: images decoded together.</summary>
    public required ActivationCurve VaeDecodeBf16 { get; init; }
    public required ActivationCurve VaeDecodeFloat32 { get; init; }
    public required ActivationCurve VaeEncodeBf16 { get; init; }
    public required ActivationCurve VaeEncodeFloat32 { get; init; }

    public static ActivationModel Reference => PlannerCalibration.Default.Activations;

    public ActivationCurve VaeDecode(bool float32) => float32 ? VaeDecodeFloat32 : VaeDecodeBf16;
    public ActivationCurve VaeEncode(bool float32) => float32 ? VaeEncodeFloat32 : VaeEncodeBf16;
}
