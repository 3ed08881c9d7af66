using ZImageSharp.Options;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

public class InvariantTests
{
    public static TheoryData<int, bool, int> Requests => new()
    {
        { 1024, false, 1 }, { 1536, false, 1 }, { 2048, false, 1 }, { 1024, true, 1 }, { 1024, false, 3 }, { 768, true, 2 },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public void EveryChosenPhaseStaysUnderTheBudget(int size, bool guidance, int count)
    {
        foreach (double gib in new[] { 4, 6, 8, 12, 16, 24, 48, 80 })
        {
            var plan = PlanOn(gib, Square(size, guidance, count));
            if (!plan.Fits) continue;
            long budget = (long)(gib * ByteSize.GiB) - PlannerOptions.Default.ReserveBytes;
            Assert.Equal(budget, plan.BudgetBytes);
            Assert.All(plan.Phases, phase => Assert.True(phase.PeakBytes <= budget,
                $"{gib} GiB, {phase.Phase}: {phase.PeakBytes} > {budget}"));
        }
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public void MoreMemoryNeverGivesASlowerPlanWhenOnlySpeedCounts(int size, bool guidance, int count)
    {
        var options = new PlannerOptions { Fp8TimePenaltyFraction = 0 };
        var planner = new MemoryPlanner(options);
        double previous = double.MaxValue;
        for (double gib = 2; gib <= 32; gib += 0.5)
        {
            var plan = planner.Plan(Card(gib, Square(size, guidance, count), options));
            if (!plan.Fits) continue;
            double seconds = plan.PredictedTime.TotalSeconds;
            Assert.True(seconds <= previous + 1e-9, $"{gib} GiB: {seconds:0.0000} s after {previous:0.0000} s");
            previous = seconds;
        }
    }

    [Fact]
    public void WithTheFp8PreferenceMoreMemoryCostsAtMostThePenalty()
    {
        // The default trades up to 10% of speed for bf16 weights: a bigger card may pick a bf16 plan a little
        // slower than the fp8 plan of a smaller card, never more than the penalty.
        double previous = double.MaxValue;
        bool previousFp8 = false;
        for (double gib = 2; gib <= 32; gib += 0.5)
        {
            var plan = PlanOn(gib, Square(1024));
            double seconds = plan.PredictedTime.TotalSeconds;
            double allowed = previousFp8 ? previous * (1 + PlannerOptions.Default.Fp8TimePenaltyFraction) : previous;
            Assert.True(seconds <= allowed + 1e-9, $"{gib} GiB: {seconds:0.0000} s after {previous:0.0000} s");
            previous = seconds;
            previousFp8 = plan.TextEncoder.Storage == WeightStorage.Fp8 || plan.Transformer.Storage == WeightStorage.Fp8;
        }
    }

    [Fact]
    public void TooLargeRequestReportsTheLargestSizeThatFits()
    {
        var plan = PlanOn(4, Square(4096));

        Assert.False(plan.Fits);
        Assert.Equal(PlanPhase.Denoise, plan.TightestPhase.Phase);
        var largest = Assert.NotNull(plan.LargestFittingSize);
        Assert.Equal(largest.Width, largest.Height);
        Assert.Equal(0, largest.Width % 16);
        Assert.True(PlanOn(4, Square(largest.Width)).Fits);
        Assert.False(PlanOn(4, Square(largest.Width + 16)).Fits);
        Assert.Equal(2592, largest.Width);
    }

    [Fact]
    public void LargestSizeKeepsTheAspectRatio()
    {
        var plan = PlanOn(3, Square(1024) with { Width = 4096, Height = 2048 });

        var largest = Assert.NotNull(plan.LargestFittingSize);
        Assert.Equal(0, largest.Width % 16);
        Assert.Equal(0, largest.Height % 16);
        Assert.InRange(largest.Width / (double)largest.Height, 1.99, 2.01);
        Assert.True(PlanOn(3, Square(1024) with { Width = largest.Width, Height = largest.Height }).Fits);
        Assert.False(PlanOn(3, Square(1024) with { Width = largest.Width + 32, Height = largest.Height + 16 }).Fits);
    }

    [Fact]
    public void NothingFitsOnATinyCard()
    {
        var plan = PlanOn(1, Square(1024));

        Assert.False(plan.Fits);
        Assert.Null(plan.LargestFittingSize);
        var error = Assert.Throws<Errors.NoPlanFitsException>(() => plan.EnsureFits());
        Assert.Contains("does not fit", error.Message);
        Assert.Null(error.LargestFittingSize);
    }

    [Fact]
    public void VramBudgetOverrideWinsOverTheRealCard()
    {
        var options = PlannerOptions.Default;
        var real = DeviceBudget.Measured(80 * ByteSize.GiB, 79 * ByteSize.GiB, 0, options);
        var emulated = real with { OverrideBytes = 8 * ByteSize.GiB + options.CudaContextBytes };

        Assert.Equal(8 * ByteSize.GiB - options.ReserveBytes, emulated.PlanningBytes);
        Assert.False(emulated.OverrideExceedsFreeMemory);
        var plan = Planner.Plan(ReleasedOn(emulated, Square(1024)));
        var eightGiB = PlanOn(8, Square(1024));
        Assert.Equal(eightGiB.Summary, plan.Summary);
        Assert.Equal(Placement.StreamedBf16, plan.Transformer.Placement);
    }

    [Fact]
    public void OverrideAboveFreeMemoryIsFlagged()
    {
        var small = DeviceBudget.Measured(8 * ByteSize.GiB, 7 * ByteSize.GiB, 0, PlannerOptions.Default, overrideBytes: 24 * ByteSize.GiB);

        Assert.True(small.OverrideExceedsFreeMemory);
        Assert.Equal(Placement.Resident, Planner.Plan(ReleasedOn(small, Square(1024))).Transformer.Placement);
    }

    [Fact]
    public void OtherProcessesAndTheContextBoundFreeMemory()
    {
        var budget = DeviceBudget.Measured(24 * ByteSize.GiB, 23 * ByteSize.GiB, 4 * ByteSize.GiB, PlannerOptions.Default);

        Assert.Equal(20 * ByteSize.GiB - PlannerOptions.Default.CudaContextBytes, budget.UsableBytes);
    }
}
