using ZImageSharp.Options;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

public class DegradeTests
{
    [Theory]
    [InlineData(PlanPhase.Decode)]
    [InlineData(PlanPhase.Denoise)]
    [InlineData(PlanPhase.TextEncode)]
    public void DegradeWalksDownTheLadderAndEnds(PlanPhase phase)
    {
        var plan = PlanOn(24, Square(1024));
        var options = PlannerOptions.Default;
        var seen = new List<MemoryPlan> { plan };
        while (Planner.Degrade(seen[^1], phase) is { } next)
        {
            var previous = seen[^1].Phase(phase).PeakBytes;
            long step = Math.Max(options.DegradeMinimumStepBytes, (long)(previous * options.DegradeStepFraction));
            Assert.True(next.Fits, next.Summary);
            Assert.True(next.Phase(phase).PeakBytes <= previous - step,
                $"step {next.DegradeSteps}: {next.Phase(phase).PeakBytes} not below {previous} - {step}");
            Assert.Equal(seen.Count, next.DegradeSteps);
            seen.Add(next);
        }
        Assert.InRange(seen.Count - 1, 2, options.MaxDegradeSteps);
    }

    [Fact]
    public void DecodeFirstReleasesWhatStaysLoadedThenTiles()
    {
        // A decode OOM at 2048x2048 on 80 GiB: the cheapest way to lower the decode peak is to stop keeping the text
        // encoder loaded (nothing slows down but its phase); the next OOM leaves only tiling.
        var plan = PlanOn(80, Square(2048));
        Assert.Equal(VaeDecodeMode.Full, plan.Vae.Mode);

        var first = Planner.Degrade(plan, PlanPhase.Decode)!;
        Assert.Equal(VaeDecodeMode.Full, first.Vae.Mode);
        Assert.True(first.Phase(PlanPhase.Decode).StayingWeightBytes < plan.Phase(PlanPhase.Decode).StayingWeightBytes);

        var modes = new List<VaeDecodeMode>();
        for (var next = first; next is not null; next = Planner.Degrade(next, PlanPhase.Decode))
            modes.Add(next.Vae.Mode);
        Assert.Contains(VaeDecodeMode.Tiled, modes);
    }

    [Fact]
    public void DenoiseDegradesUntilTheTransformerStreams()
    {
        var plan = PlanOn(24, Square(1024));
        Assert.Equal(Placement.Resident, plan.Transformer.Placement);

        var placements = new List<Placement>();
        for (var next = Planner.Degrade(plan, PlanPhase.Denoise); next is not null; next = Planner.Degrade(next, PlanPhase.Denoise))
            placements.Add(next.Transformer.Placement);

        Assert.Contains(placements, p => p.IsStreamed());
    }

    [Fact]
    public void DegradeStopsAfterTheConfiguredSteps()
    {
        var options = new PlannerOptions { MaxDegradeSteps = 1 };
        var planner = new MemoryPlanner(options);
        var plan = planner.Plan(Card(80, Square(1024), options));

        var once = planner.Degrade(plan, PlanPhase.Denoise);

        Assert.NotNull(once);
        Assert.Null(planner.Degrade(once, PlanPhase.Denoise));
    }

    [Fact]
    public void DegradeOfAMissingPhaseNamesThePhases()
    {
        var plan = PlanOn(24, Square(1024));

        var error = Assert.Throws<ArgumentException>(() => Planner.Degrade(plan, PlanPhase.ImageEncode));
        Assert.Contains("image-encode", error.Message);
    }
}
