using System.Text.Json;
using System.Text.Json.Serialization;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Store;

/// <summary>What one node tells the others through NOTIFY: a job was queued (wake up), started, made progress, ended,
/// or should stop (cancel). A payload must stay under PostgreSQL's 8000 bytes, so a preview too large for it (a 1024²
/// job's 128-pixel preview is) travels in <c>zimage_previews</c>, written in the same transaction as the NOTIFY, and
/// the event says so (<see cref="PreviewStored"/>).</summary>
internal sealed record FleetEvent
{
    public const int MaxPreviewBase64 = 6000;

    private static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    [JsonPropertyName("n")] public required string Node { get; init; }
    [JsonPropertyName("k")] public required string Kind { get; init; }
    [JsonPropertyName("id")] public string? Id { get; init; }
    [JsonPropertyName("a")] public int Attempt { get; init; }
    [JsonPropertyName("t")] public DateTimeOffset? StartedAt { get; init; }
    [JsonPropertyName("ph")] public GenerationPhase? Phase { get; init; }
    [JsonPropertyName("s")] public int Step { get; init; }
    [JsonPropertyName("ts")] public int TotalSteps { get; init; }
    [JsonPropertyName("el")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("eta")] public double? EtaSeconds { get; init; }
    [JsonPropertyName("pv")] public string? Preview { get; init; }
    [JsonPropertyName("pvs")] public bool PreviewStored { get; init; }

    public const string Queued = "queued", Started = "started", Progress = "progress", Ended = "ended", Cancel = "cancel";

    /// <summary>The event for a progress step; a preview too large for the payload is left to the caller to store.</summary>
    public static FleetEvent ForProgress(string node, string id, int attempt, ProgressSnapshot progress)
    {
        string? preview = progress.PreviewPng is { } png ? Convert.ToBase64String(png) : null;
        bool fits = preview is { Length: <= MaxPreviewBase64 };
        return new FleetEvent
        {
            Node = node,
            Kind = Progress,
            Id = id,
            Attempt = attempt,
            Phase = progress.Phase,
            Step = progress.Step,
            TotalSteps = progress.TotalSteps,
            ElapsedSeconds = progress.Elapsed.TotalSeconds,
            EtaSeconds = progress.Eta?.TotalSeconds,
            Preview = fits ? preview : null,
            PreviewStored = preview is not null && !fits,
        };
    }

    public ProgressSnapshot ToProgress() => new(Phase ?? GenerationPhase.Denoise, Step, TotalSteps,
        TimeSpan.FromSeconds(ElapsedSeconds), EtaSeconds is { } eta ? TimeSpan.FromSeconds(eta) : null,
        Preview is { } b64 ? Convert.FromBase64String(b64) : null);

    public string ToPayload() => JsonSerializer.Serialize(this, Json);

    public static FleetEvent? Parse(string payload)
    {
        try
        {
            return JsonSerializer.Deserialize<FleetEvent>(payload, Json);
        }
        catch (JsonException)
        {
            return null; // another program's NOTIFY on our channel: not ours to act on
        }
    }
}
