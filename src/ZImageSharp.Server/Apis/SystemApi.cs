using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Http;
using ZImageSharp.Server.Jobs;
using ZImageSharp.Server.Security;

namespace ZImageSharp.Server.Apis;

/// <summary><c>/api/plan</c> (the memory plan for a request, without running it) and <c>/api/system</c>
/// (device, memory, libtorch, model, queue).</summary>
internal static class SystemApi
{
    public static IEndpointRouteBuilder MapSystemApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/plan", Plan)
            .WithTags("System")
            .WithName("PlanRequest")
            .AllowReadOnlyKeys() // it changes nothing
            .WithSummary("The memory plan this device would use for a request; fits=false carries the largest size that fits.")
            .Accepts<JobSubmission>("application/json")
            .Produces<PlanDto>()
            .ProducesValidationProblem();
        app.MapGet("/api/loras", (HttpContext http) => TypedResults.Ok(LoraSyntax.List(http)))
            .WithTags("System")
            .WithName("ListLoras")
            .WithSummary("The LoRA names the server's LoRA folder holds (for \"loras\" and <lora:name:0.8>); available=false without a folder.")
            .Produces<LoraListDto>();
        app.MapGet("/api/system", System)
            .WithTags("System")
            .WithName("GetSystem")
            .WithSummary("GPUs and their memory now, libtorch, the loaded model, the current plan and the queue.")
            .Produces<SystemDto>();
        return app;
    }

    private static async Task<Ok<PlanDto>> Plan(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options)
    {
        var body = await NativeRequest.ReadBodyAsync(http, options.Value);
        var request = NativeRequest.Parse(body, jobs.Limits);
        return TypedResults.Ok(PlanDto.From(jobs.Plan(request)));
    }

    private static Ok<SystemDto> System(ISystemInfo system, JobService jobs)
    {
        var report = system.Describe();
        return TypedResults.Ok(new SystemDto(report.Device, report.LibTorch, report.Gpus, report.Model, report.CurrentPlan,
            new QueueDto(jobs.QueueDepth, jobs.QueueCapacity, jobs.Running.Count, jobs.Workers),
            typeof(SystemApi).Assembly.GetName().Version?.ToString() ?? "0", report.SpeedProfile) { Fleet = jobs.Fleet?.Select(node => node with { Workers = [.. node.Workers.Select(w => w with { Capacity = null })] }).ToList() });
    }
}

internal sealed record PhasePlanDto(string Phase, string Placement, long PredictedPeakBytes, double PredictedSeconds);

internal sealed record SizeDto(int Width, int Height);

internal sealed record PlanDto(
    bool Fits,
    long BudgetBytes,
    long PredictedPeakBytes,
    double PredictedSeconds,
    IReadOnlyList<PhasePlanDto> Phases,
    SizeDto? LargestFittingSize,
    string Summary,
    string SpeedSource)
{
    public static PlanDto From(PlanReport plan) => new(plan.Fits, plan.BudgetBytes, plan.PredictedPeakBytes,
        Math.Round(plan.PredictedTime.TotalSeconds, 3),
        plan.Phases.Select(p => new PhasePlanDto(p.Phase, p.Placement, p.PredictedPeakBytes, Math.Round(p.PredictedTime.TotalSeconds, 3))).ToArray(),
        plan.LargestFittingSize is { } s ? new SizeDto(s.Width, s.Height) : null, plan.Summary, plan.SpeedSource);
}

internal sealed record QueueDto(int Depth, int Capacity, int Running, int Workers);

internal sealed record SystemDto(
    string Device,
    string LibTorch,
    IReadOnlyList<GpuReport> Gpus,
    ModelInfo Model,
    string? CurrentPlan,
    QueueDto Queue,
    string ServerVersion,
    string? SpeedProfile)
{
    /// <summary>With a shared store (docs/scale-out.md): every node online and its workers; absent otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<FleetNode>? Fleet { get; init; }
}
