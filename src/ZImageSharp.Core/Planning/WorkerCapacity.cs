using System.Text.Json;
using System.Text.Json.Serialization;
using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>
/// Everything a worker's plans depend on besides the request: its card and host as last measured, the footprint of the
/// weights it holds, its speeds and its planner's policy. A worker of a fleet publishes it with its heartbeat, so that
/// any node, an API-only one included, plans a request for that worker exactly as the worker itself would: admission
/// refuses what fits no worker, and a worker leaves a job to the others when they fit it and it does not.
/// </summary>
public sealed record WorkerCapacity
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    public required PlannerOptions Options { get; init; }

    public required DeviceBudget Device { get; init; }

    public required HostBudget Host { get; init; }

    public required ModelFootprint Model { get; init; }

    public required SpeedProfile Speed { get; init; }

    /// <summary>See <see cref="PlannerInput.WeightsInFiles"/>.</summary>
    public bool WeightsInFiles { get; init; }

    /// <summary>See <see cref="PlannerInput.ComputeInFloat32"/>.</summary>
    public bool ComputeInFloat32 { get; init; }

    /// <summary>The planner's input for one request on this worker; <paramref name="adapterBytes"/> are the request's
    /// LoRA bytes at this worker's compute width (<see cref="PlannerInput.AdapterBytes"/>).</summary>
    public PlannerInput For(PlannerRequest request, long adapterBytes) => new(Device, Model, request, Speed)
    {
        Host = Host,
        WeightsInFiles = WeightsInFiles,
        ComputeInFloat32 = ComputeInFloat32,
        AdapterBytes = adapterBytes,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <see cref="ToJson"/>'s output.</summary>
    /// <exception cref="FormatException">Not a capacity this version can read (a node of another version).</exception>
    public static WorkerCapacity FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<WorkerCapacity>(json, Json) is { Options: not null, Device: not null, Host: not null, Model: not null, Speed: not null } capacity
                ? capacity
                : throw new FormatException("not a worker capacity (options, device, host, model and speed are required)");
        }
        catch (JsonException e)
        {
            throw new FormatException($"not a worker capacity this version reads: {e.Message}", e);
        }
    }
}
