using System.Text.Json;

namespace ZImageSharp.Planning;

/// <summary>The measured numbers the planner predicts from: activation curves and a speed profile. Shipped as the
/// embedded <c>calibration.json</c>; a recalibration replaces that file (or passes its own through
/// <see cref="FromJson"/>) and never touches code.</summary>
public sealed record PlannerCalibration(ActivationModel Activations, SpeedProfile Speed)
{
    private const string ResourceName = "ZImageSharp.Planning.calibration.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private static readonly Lazy<PlannerCalibration> Embedded = new(LoadEmbedded);

    /// <summary>The calibration shipped with ZImageSharp (H100 reference runs).</summary>
    public static PlannerCalibration Default => Embedded.Value;

    public static PlannerCalibration FromJson(string json)
    {
        var calibration = JsonSerializer.Deserialize<PlannerCalibration>(json, Json)
            ?? throw new FormatException("The planner calibration JSON is empty: it needs 'activations' and 'speed'.");
        var errors = calibration.Speed.Check();
        if (errors.Count > 0)
            throw new FormatException("The planner calibration's speed profile is invalid: " + string.Join(" ", errors));
        return calibration;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    private static PlannerCalibration LoadEmbedded()
    {
        using var stream = typeof(PlannerCalibration).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} is missing from ZImageSharp.Core.");
        using var reader = new StreamReader(stream);
        return FromJson(reader.ReadToEnd());
    }
}
