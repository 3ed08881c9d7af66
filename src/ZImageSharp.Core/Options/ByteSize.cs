using System.Globalization;
using System.Text.RegularExpressions;

namespace ZImageSharp.Options;

/// <summary>A byte count that reads and prints as people write it ("12GiB", "512 MB", "1.5G").</summary>
public readonly partial record struct ByteSize(long Bytes) : IComparable<ByteSize>
{
    public const long KiB = 1L << 10, MiB = 1L << 20, GiB = 1L << 30;

    public static ByteSize FromGiB(double gib) => new((long)(gib * GiB));
    public double GiBValue => Bytes / (double)GiB;

    public int CompareTo(ByteSize other) => Bytes.CompareTo(other.Bytes);

    public static ByteSize Parse(string text)
    {
        if (TryParse(text, out var size)) return size;
        throw new FormatException(
            $"'{text}' is not a size: write a number with a unit, for example 12GiB, 512MiB, 8GB or 1.5G (binary units are 1024-based, KB/MB/GB are 1000-based, a bare G/M/K means GiB/MiB/KiB).");
    }

    public static bool TryParse(string? text, out ByteSize size)
    {
        size = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var m = SizePattern().Match(text.Trim());
        if (!m.Success || !double.TryParse(m.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || value < 0 || !double.IsFinite(value))
            return false;
        double factor = m.Groups[2].Value.ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KI" or "KIB" => KiB,
            "M" or "MI" or "MIB" => MiB,
            "G" or "GI" or "GIB" => GiB,
            "T" or "TI" or "TIB" => GiB * 1024.0,
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            _ => double.NaN,
        };
        if (double.IsNaN(factor) || value * factor > long.MaxValue) return false;
        size = new ByteSize((long)(value * factor));
        return true;
    }

    public override string ToString() => Bytes switch
    {
        >= GiB => (Bytes / (double)GiB).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= MiB => (Bytes / (double)MiB).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= KiB => (Bytes / (double)KiB).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => Bytes + " B",
    };

    [GeneratedRegex(@"^([0-9]*\.?[0-9]+)\s*([A-Za-z]*)$")]
    private static partial Regex SizePattern();
}
