using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Tests.Mocks;

/// <summary>One engine on one card of a multi-device process (zimage serve --devices): its generator and its own
/// planner, as <see cref="Engine.ZImageEngine"/> is both.</summary>
public sealed class FakeCard(FakeImageGenerator generator, FakePlanner planner) : IImageGenerator, IGenerationPlanner
{
    public FakeImageGenerator Generator { get; } = generator;

    public ModelInfo Model => Generator.Model;

    public Task<GenerationResult> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken) =>
        Generator.GenerateAsync(request, progress, cancellationToken);

    public PlanReport Plan(GenerationRequest request) => planner.Plan(request);

    public string DescribeCapacity() => planner.DescribeCapacity();

    public PlanReport Plan(GenerationRequest request, string capacity) => planner.Plan(request, capacity);
}
