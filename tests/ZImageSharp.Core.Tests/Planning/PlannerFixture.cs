using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>Shared helpers: the released model's footprint, the reference speeds and cards of a given free memory.</summary>
internal static class PlannerFixture
{
    public static readonly MemoryPlanner Planner = new();

    /// <summary>The released model's memory description as the engine makes it from the model code; the Engine test
    /// <c>ModelMemoryDescriptionTests.ThePlannersCopyEqualsTheModelCode</c> keeps these files equal to it.</summary>
    public static readonly ModelFootprint Released = Footprint("released-footprint.json");
    public static readonly ModelFootprint ReleasedFloat32 = Footprint("released-footprint-fp32.json");

    private static ModelFootprint Footprint(string file)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "data", "planning", file);
        return ModelFootprint.FromJson(File.ReadAllText(path), path);
    }

    /// <summary>The released model on <paramref name="device"/>, with the reference speeds unless given.</summary>
    public static PlannerInput ReleasedOn(DeviceBudget device, PlannerRequest request, SpeedProfile? speed = null) =>
        new(device, Released, request, speed ?? SpeedProfile.Reference);

    public static PlannerInput Card(double freeGiB, PlannerRequest? request = null, PlannerOptions? options = null,
        SpeedProfile? speed = null) =>
        ReleasedOn(
            DeviceBudget.WithFreeMemory((long)(freeGiB * ByteSize.GiB), options ?? PlannerOptions.Default),
            request ?? new PlannerRequest(),
            speed);

    public static MemoryPlan PlanOn(double freeGiB, PlannerRequest? request = null) => Planner.Plan(Card(freeGiB, request));

    public static PlannerRequest Square(int size, bool guidance = false, int count = 1, int captionTokens = 512) =>
        new() { Width = size, Height = size, Guidance = guidance, Count = count, CaptionTokens = captionTokens };
}
