using System.Text;
using ZImageSharp.Contracts;
using ZImageSharp.Options;

namespace ZImageSharp.Planning;

/// <summary>A plain-text table of a plan for <c>zimage plan</c> and the log line the engine writes once per plan: per
/// phase the predicted device peak, host RAM and time on one line, and how the phase's component runs on the lines
/// below it, wrapped so the whole table reads at 80 columns.</summary>
public static class PlanTable
{
    public const int Width = 80;
    private static readonly string[] Headers = ["Phase", "Device peak", "Host RAM", "Time"];

    public static string Format(MemoryPlan plan) => Format(plan.ToReport());

    public static string Format(PlanReport report)
    {
        bool host = report.HostBudgetBytes is not null || report.HostBytes > 0;
        string[] Cells(string phase, long peak, long hostBytes, TimeSpan time) =>
            [phase, new ByteSize(peak).ToString(), host ? new ByteSize(hostBytes).ToString() : "", MemoryPlan.Seconds(time)];
        var rows = report.Phases.Select(p => Cells(p.Phase, p.PredictedPeakBytes, p.PredictedHostBytes, p.PredictedTime)).ToList();
        var total = Cells("total", report.PredictedPeakBytes, report.HostBytes, report.PredictedTime);

        var headers = host ? Headers : Headers.Where((_, i) => i != 2).ToArray();
        string[] Shown(string[] cells) => host ? cells : cells.Where((_, i) => i != 2).ToArray();
        var widths = Enumerable.Range(0, headers.Length)
            .Select(column => rows.Append(total).Select(row => Shown(row)[column].Length).Append(headers[column].Length).Max())
            .ToArray();
        var text = new StringBuilder();
        void Line(string[] cells)
        {
            // The phase left-aligned, numbers right-aligned.
            text.Append(cells[0].PadRight(widths[0]));
            for (int i = 1; i < cells.Length; i++) text.Append("  ").Append(cells[i].PadLeft(widths[i]));
            text.AppendLine();
        }
        void Rule() => Line(widths.Select(w => new string('-', w)).ToArray());
        Line(headers);
        Rule();
        for (int i = 0; i < rows.Count; i++)
        {
            Line(Shown(rows[i]));
            foreach (var line in Wrap(report.Phases[i].Placement, Width - 4)) text.Append("    ").AppendLine(line);
        }
        Rule();
        Line(Shown(total));
        string budget = $"device budget {new ByteSize(report.BudgetBytes)}" +
                        (report.HostBudgetBytes is { } h ? $", host budget {new ByteSize(h)}" : "") + $"; weights {report.WeightsPrecision}";
        foreach (var line in Wrap((report.Fits ? "fits: " : "does not fit: ") + budget, Width)) text.AppendLine(line);
        if (report.LargestFittingSize is { } largest)
            text.AppendLine($"largest size that fits: {largest}");
        if (report.SpeedSource.Length > 0)
            foreach (var line in Wrap("times from the " + report.SpeedSource, Width)) text.AppendLine(line);
        return text.ToString();
    }

    /// <summary>Splits <paramref name="text"/> at spaces into lines of at most <paramref name="width"/> characters (a
    /// longer word stands alone).</summary>
    internal static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new StringBuilder();
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0) yield return line.ToString();
    }
}
