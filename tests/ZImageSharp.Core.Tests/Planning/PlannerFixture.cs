using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>Shared helpers: the released model's footprint, the reference speeds and cards of a given free memory.</summary>
internal static class PlannerFixture
{
    public static readonly MemoryPlanner Planner = new();

    public static PlannerInput Card(double freeGiB, PlannerRequest? request = null, PlannerOptions? options = null,
        SpeedProfile? speed = null) =>
        PlannerInput.ForReleasedModel(
            DeviceBudget.WithFreeMemory((long)(freeGiB * ByteSize.GiB), options ?? PlannerOptions.Default),
            request ?? new PlannerRequest(),
            speed);

    public static MemoryPlan PlanOn(double freeGiB, PlannerRequest? request = null) => Planner.Plan(Card(freeGiB, request));

    public static PlannerRequest Square(int size, bool guidance = false, int count = 1, int captionTokens = 512) =>
        new() { Width = size, Height = size, Guidance = guidance, Count = count, CaptionTokens = captionTokens };
}
