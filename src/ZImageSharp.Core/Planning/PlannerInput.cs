namespace ZImageSharp.Planning;

/// <summary>Everything a plan depends on, as plain data: the device, the weights, the request and measured speeds.</summary>
public sealed record PlannerInput(DeviceBudget Device, ModelFootprint Model, PlannerRequest Request, SpeedProfile Speed)
{
    /// <summary>The host memory the plan may hold (unbounded unless given).</summary>
    public HostBudget Host { get; init; } = HostBudget.Unbounded;

    /// <summary>True when the weights can be read again from their files: a component that stays on the device then
    /// needs no host copy, and one loaded per phase may be read from the file instead of a pinned master. False for
    /// models that exist only in memory (the demo, random weights), whose host masters are the only copy.</summary>
    public bool WeightsInFiles { get; init; }

    /// <summary>The text encoder and transformer compute in float32 (<c>--dtype fp32</c>): the footprint's sizes are then
    /// 4-byte sizes, and activations are sized at twice the bf16 curves they were measured as. A property of the model
    /// as loaded, not a planner setting: the engine sets it from its modules' dtype.</summary>
    public bool ComputeInFloat32 { get; init; }

    /// <summary>Device bytes the request's LoRAs add during the denoise phase (Engine/Lora: factors kept for the
    /// runtime path, and the float32 ΔW a merge makes one weight at a time); counted with the transformer's activations.</summary>
    public long AdapterBytes { get; init; }
}
