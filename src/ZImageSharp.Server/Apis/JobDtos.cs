using ZImageSharp.Contracts;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Apis;

/// <summary>The native request body (POST /api/jobs, /api/plan). Read by <see cref="NativeRequest"/>; this type
/// only describes it for the OpenAPI document.</summary>
internal sealed record JobSubmission(
    string Prompt,
    string? NegativePrompt,
    int? Width,
    int? Height,
    int? Steps,
    long? Seed,
    int? Count,
    float? GuidanceScale,
    float? CfgTruncation,
    float? CfgNormalization,
    float? Shift,
    string? Sampler,
    string? Scheduler,
    IReadOnlyList<LoraRequest>? Loras = null,
    string? InitImage = null,
    float? Strength = null,
    string? Mask = null);

/// <summary>An edit's picture as a job record shows it: its size and A1111's hash of its pixels (the PNG parameters'
/// "Init image hash" / "Mask hash"), not the pixels themselves.</summary>
internal sealed record EditImageDto(int Width, int Height, string Md5)
{
    public static EditImageDto? From(EditImage? image) => image is null ? null : new(image.Width, image.Height, image.Md5());
}

/// <summary>A job's request. <see cref="Strength"/>, <see cref="InitImage"/> and <see cref="Mask"/> are null for
/// text to image.</summary>
internal sealed record RequestDto(
    string Prompt,
    string NegativePrompt,
    int Width,
    int Height,
    int Steps,
    long? Seed,
    int Count,
    float GuidanceScale,
    float CfgTruncation,
    float CfgNormalization,
    float? Shift,
    string Sampler,
    string Scheduler,
    IReadOnlyList<LoraRequest> Loras,
    float? Strength,
    EditImageDto? InitImage,
    EditImageDto? Mask)
{
    public static RequestDto From(GenerationRequest r) => new(r.Prompt, r.NegativePrompt, r.Width, r.Height, r.Steps, r.Seed,
        r.Count, r.GuidanceScale, r.CfgTruncation, r.CfgNormalization, r.Shift, r.Sampler, r.Scheduler, r.Loras,
        r.InitImage is null ? null : r.Strength, EditImageDto.From(r.InitImage), EditImageDto.From(r.Mask));
}

/// <summary>Progress of a running job. <see cref="Preview"/> is a small PNG of the current latent as a data URL.</summary>
internal sealed record ProgressDto(
    string JobId,
    string Phase,
    int Step,
    int TotalSteps,
    double Fraction,
    double ElapsedSeconds,
    double? EtaSeconds,
    string? Preview)
{
    public static ProgressDto From(string jobId, ProgressSnapshot p) => new(jobId, p.Phase.ToString().ToLowerInvariant(), p.Step,
        p.TotalSteps, Math.Round(p.Fraction, 4), Math.Round(p.Elapsed.TotalSeconds, 3), p.Eta is { } eta ? Math.Round(eta.TotalSeconds, 3) : null,
        p.PreviewPng is { } png ? "data:image/png;base64," + Convert.ToBase64String(png) : null);
}

internal sealed record ImageDto(int Index, long Seed, int Width, int Height, string Url);

internal sealed record ErrorDto(string Code, string? Phase, string Message);

internal sealed record LinksDto(string Self, string Events, string Cancel);

internal sealed record JobStatusDto(
    string Id,
    string State,
    string Source,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    int Attempt,
    int? QueuePosition,
    RequestDto Request,
    ProgressDto? Progress,
    IReadOnlyList<ImageDto> Images,
    string? PlanSummary,
    string? Weights,
    double? TotalSeconds,
    ErrorDto? Error,
    LinksDto Links)
{
    public static JobStatusDto From(JobView view)
    {
        var job = view.Job;
        string self = $"/api/jobs/{job.Id}";
        return new JobStatusDto(job.Id, job.State.ToWire(), SourceName(job.Source), job.CreatedAt, job.StartedAt, job.FinishedAt,
            job.Attempt, view.QueuePosition > 0 ? view.QueuePosition : null, RequestDto.From(job.Request),
            view.Progress is { } p ? ProgressDto.From(job.Id, p) : null,
            job.Images.Select(i => new ImageDto(i.Index, i.Seed, i.Width, i.Height, $"{self}/images/{i.Index}")).ToArray(),
            job.PlanSummary, job.Weights, job.TotalSeconds, job.Error is { } e ? new ErrorDto(e.Code, e.Phase, e.Message) : null,
            new LinksDto(self, $"{self}/events", $"{self}/cancel"));
    }

    public static string SourceName(JobSource source) => source switch
    {
        JobSource.OpenAi => "openai",
        JobSource.Automatic1111 => "a1111",
        _ => "native",
    };
}

internal sealed record JobListDto(IReadOnlyList<JobStatusDto> Jobs, long? NextBefore);
