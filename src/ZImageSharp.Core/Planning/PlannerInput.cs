namespace ZImageSharp.Planning;

/// <summary>Everything a plan depends on, as plain data: the device, the weights, the request and measured speeds.</summary>
public sealed record PlannerInput(DeviceBudget Device, ModelFootprint Model, PlannerRequest Request, SpeedProfile Speed)
{
    private static readonly Lazy<ModelFootprint> Released = new(ModelFootprint.FromReleasedConfig);

    /// <summary>The released model's footprint and, unless given, the reference (H100) speeds.</summary>
    public static PlannerInput ForReleasedModel(DeviceBudget device, PlannerRequest request, SpeedProfile? speed = null) =>
        new(device, Released.Value, request, speed ?? SpeedProfile.Reference);
}
