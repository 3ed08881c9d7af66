using ZImageSharp.Options;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

public class ReportTests
{
    [Fact]
    public void ReportCarriesPhasesPeakAndTime()
    {
        var plan = PlanOn(16, Square(1024));
        var report = plan.ToReport();

        Assert.True(report.Fits);
        Assert.Equal(plan.BudgetBytes, report.BudgetBytes);
        Assert.Equal(["encode", "denoise", "decode"], report.Phases.Select(p => p.Phase));
        Assert.Equal(report.Phases.Max(p => p.PredictedPeakBytes), report.PredictedPeakBytes);
        Assert.InRange(report.PredictedTime.Ticks - report.Phases.Sum(p => p.PredictedTime.Ticks), -3, 3);
        Assert.Null(report.LargestFittingSize);
        Assert.StartsWith("1024x1024 in 1.547 s, peak 15.47 GiB of 15.50 GiB", report.Summary);
        Assert.All(report.Phases, p => Assert.Equal(p.Phase, PlanningNames.ParsePhase(p.Phase).ReportName()));
    }

    [Fact]
    public void TableListsEveryPhaseAndTheTotal()
    {
        var table = PlanTable.Format(PlanOn(24, Square(1024)));
        var lines = table.TrimEnd().Split('\n');

        Assert.StartsWith("Phase", lines[0]);
        Assert.StartsWith("encode", lines[2]);
        Assert.Contains("text encoder resident bf16, stays loaded (7.30 GiB)", lines[3]);
        Assert.StartsWith("denoise", lines[4]);
        Assert.StartsWith("decode", lines[6]);
        Assert.Contains("21.97 GiB", lines[6]);
        var total = lines.Single(l => l.StartsWith("total"));
        Assert.EndsWith("1.475 s", total.TrimEnd());
        Assert.Contains("fits: device budget 23.50 GiB", table);
    }

    [Fact]
    public void TableOfANonFittingPlanNamesTheLargestSize()
    {
        var table = PlanTable.Format(PlanOn(4, Square(4096)));

        Assert.Contains("does not fit: device budget 3.50 GiB", table);
        Assert.Contains("largest size that fits: 2592x2592", table);
    }

    [Fact]
    public void OptionsValidationListsEveryProblem()
    {
        var options = new PlannerOptions { ReserveBytes = -1, VaeTileSizesPixels = [500], MaxDegradeSteps = -1 };

        var errors = options.Check();

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("ReserveBytes"));
        Assert.Contains(errors, e => e.StartsWith("VaeTileSizesPixels") && e.Contains("(got 500)"));
        Assert.Throws<ArgumentException>(() => new MemoryPlanner(options));
    }
}
