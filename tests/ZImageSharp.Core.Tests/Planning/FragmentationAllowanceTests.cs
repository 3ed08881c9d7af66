using ZImageSharp.Options;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>A phase whose weights stream keeps free room for the pool's fragmentation: a fraction of its activation
/// bytes on top of the fixed workspace (PlannerOptions.StreamingFragmentationFraction).</summary>
public class FragmentationAllowanceTests
{
    [Fact]
    public void StreamedPhasesKeepHalfTheirActivationsFreeAndResidentOnesDoNot()
    {
        long workspace = new PlannerOptions().PhaseWorkspaceBytes;
        var resident = PlanOn(80, Square(2048)).Phase(PlanPhase.Denoise);
        Assert.Equal(workspace, resident.WorkspaceBytes);

        var streamed = PlanOn(8, Square(2048));
        Assert.Equal(Placement.StreamedBf16, streamed.Transformer.Placement);
        var denoise = streamed.Phase(PlanPhase.Denoise);
        Assert.Equal(workspace + (long)Math.Ceiling(denoise.ActivationBytes * 0.5), denoise.WorkspaceBytes);
        Assert.True(denoise.PeakBytes <= streamed.BudgetBytes);
    }

    [Fact]
    public void TheFractionIsValidated()
    {
        var error = Assert.Throws<ArgumentException>(() => new PlannerOptions { StreamingFragmentationFraction = -0.1 }.Validate());
        Assert.Contains("StreamingFragmentationFraction must be between 0 and 4", error.Message);
    }
}
