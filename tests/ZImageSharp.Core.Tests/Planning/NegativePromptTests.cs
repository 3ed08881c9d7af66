using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>With guidance the negative prompt is encoded and denoised beside the positive one, so its length is part of
/// the plan; without guidance it is never run and must not change anything.</summary>
public class NegativePromptTests
{
    private static MemoryPlan Plan(bool guidance, int negativeTokens) =>
        Planner.Plan(Card(80, Square(1024, guidance, captionTokens: 32) with { NegativeCaptionTokens = negativeTokens }));

    [Fact]
    public void ALongNegativePromptCostsMemoryAndTimeOnlyWithGuidance()
    {
        var shortNegative = Plan(guidance: true, negativeTokens: 16);
        var longNegative = Plan(guidance: true, negativeTokens: 512);
        foreach (var phase in new[] { PlanPhase.TextEncode, PlanPhase.Denoise })
            Assert.True(longNegative.Phase(phase).PeakBytes > shortNegative.Phase(phase).PeakBytes,
                $"{phase}: {longNegative.Phase(phase).PeakBytes} vs {shortNegative.Phase(phase).PeakBytes}");
        Assert.True(longNegative.PredictedTime > shortNegative.PredictedTime);

        // Sized as if both prompts were as long as the longer one: a short negative prompt plans as the positive one.
        Assert.Equal(Plan(guidance: true, negativeTokens: 32).Phase(PlanPhase.Denoise).PeakBytes, shortNegative.Phase(PlanPhase.Denoise).PeakBytes);

        Assert.Equal(Plan(guidance: false, negativeTokens: 16).Phase(PlanPhase.Denoise).PeakBytes,
            Plan(guidance: false, negativeTokens: 512).Phase(PlanPhase.Denoise).PeakBytes);
        Assert.Equal(Plan(guidance: false, negativeTokens: 16).PredictedTime, Plan(guidance: false, negativeTokens: 512).PredictedTime);
    }
}
