using System.Text.Json;
using ZImageSharp.Options;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>
/// The budgets the engine read on real small cards and small hosts (a second process holding the card, a cgroup
/// limiting the host; data/planning/h200-small-cards-*.json), planned again here. Each of those cells generated on the
/// card, so a planner change that refuses one of them, or plans it over its budgets, breaks what users have.
/// </summary>
public class MeasuredCardTests
{
    private const string DataFile = "h200-small-cards-2026-12-03.json";

    public sealed record Cell(double? FreeGiBBeforeStart, int Size, double? HostLimitGiB, double DevicePlanningGiB,
        double HostPlanningGiB, bool Generated, string Plan)
    {
        public override string ToString() =>
            $"{FreeGiBBeforeStart?.ToString() ?? "all"} GiB free, {Size}², host {HostLimitGiB?.ToString() ?? "-"}";
    }

    private sealed record CellFile(List<Cell> Cells);

    public static TheoryData<Cell> Cells()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "data", "planning", DataFile);
        var file = JsonSerializer.Deserialize<CellFile>(File.ReadAllText(path), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        var data = new TheoryData<Cell>();
        foreach (var cell in file.Cells) data.Add(cell);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cells))]
    public void EveryCellThatGeneratedOnTheCardStillPlansWithinItsBudgets(Cell cell)
    {
        Assert.True(cell.Generated, $"the data records a cell that did not generate: {cell}");
        var options = PlannerOptions.Default;
        // The printed budgets are rounded to 0.01 GiB: round down, so the test never plans with more than there was.
        long device = (long)(Math.Floor(cell.DevicePlanningGiB * 100) / 100 * ByteSize.GiB);
        long host = (long)(Math.Floor(cell.HostPlanningGiB * 100) / 100 * ByteSize.GiB);
        var input = Card(0, Square(cell.Size)) with
        {
            Device = DeviceBudget.WithFreeMemory(device + options.ReserveBytes, options),
            Host = HostBudget.WithAvailable(host + options.HostReserveBytes, options, "measured"),
            WeightsInFiles = true, // the runs read the model from a diffusers folder
        };

        // The longest caption (Square's 512 tokens), so the plan holds for any prompt, not just the run's.
        var plan = Planner.Plan(input);

        Assert.True(plan.Fits, plan.Summary);
        Assert.InRange(plan.PredictedPeakBytes, 0, device);
        Assert.InRange(plan.HostBytes, 0, host);
        if (cell.HostLimitGiB is { } limit)
            Assert.True(plan.HostBytes < limit * ByteSize.GiB, $"{new ByteSize(plan.HostBytes)} planned under a {limit} GiB limit");
    }
}
