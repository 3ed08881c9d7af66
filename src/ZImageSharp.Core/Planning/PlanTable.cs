using System.Text;
using ZImageSharp.Contracts;
using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>A plain-text table of a plan (phase, placement, predicted peak, predicted time) for <c>zimage plan</c>
/// and the log line the engine writes once per plan.</summary>
public static class PlanTable
{
    private static readonly string[] Headers = ["Phase", "Placement", "Peak", "Time"];

    public static string Format(MemoryPlan plan) => Format(plan.ToReport());

    public static string Format(PlanReport report)
    {
        var rows = report.Phases
            .Select(p => new[] { p.Phase, p.Placement, new ByteSize(p.PredictedPeakBytes).ToString(), MemoryPlan.Seconds(p.PredictedTime) })
            .ToList();
        rows.Add(["total", report.Fits ? $"fits {new ByteSize(report.BudgetBytes)}" : $"does not fit {new ByteSize(report.BudgetBytes)}",
            new ByteSize(report.PredictedPeakBytes).ToString(), MemoryPlan.Seconds(report.PredictedTime)]);

        var widths = Enumerable.Range(0, Headers.Length)
            .Select(column => rows.Select(row => row[column].Length).Append(Headers[column].Length).Max())
            .ToArray();
        var text = new StringBuilder();
        void Line(string[] cells)
        {
            // Text columns left-aligned, numbers right-aligned.
            text.Append(cells[0].PadRight(widths[0])).Append("  ")
                .Append(cells[1].PadRight(widths[1])).Append("  ")
                .Append(cells[2].PadLeft(widths[2])).Append("  ")
                .Append(cells[3].PadLeft(widths[3]))
                .AppendLine();
        }
        Line(Headers);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var row in rows.Take(rows.Count - 1)) Line(row);
        Line(widths.Select(w => new string('-', w)).ToArray());
        Line(rows[^1]);
        if (report.LargestFittingSize is { } largest)
            text.AppendLine($"largest size that fits: {largest}");
        return text.ToString();
    }
}
