using System.Globalization;

namespace ZImageSharp.Planning;

/// <summary>
/// Chooses the speeds a plan predicts with, one rule for <c>plan</c>, <c>doctor</c> and the engine:
/// <list type="number">
/// <item>a file named by <c>--speed-profile</c> (env <c>ZIMAGE_SPEED_PROFILE</c>), whatever card it was measured on;</item>
/// <item>else this card's own file in the profile folder (<see cref="CardProfileFile.DefaultPath"/>), if there is one;</item>
/// <item>else the reference profile scaled by this card's measured matmul rate and link, or unscaled where there is
/// nothing to measure (no GPU: a plan for a <c>--vram-budget</c> card).</item>
/// </list>
/// A file that is chosen but cannot be read is an error (<see cref="SpeedProfileFileException"/>), never skipped.
/// The chosen profile's <see cref="SpeedProfile.Label"/> says which of these it is; plans carry it.
/// </summary>
public static class SpeedProfiles
{
    public const string EnvironmentVariable = "ZIMAGE_SPEED_PROFILE";

    /// <param name="explicitPath">--speed-profile or ZIMAGE_SPEED_PROFILE; null or empty for none.</param>
    /// <param name="card">The device plans are for; null when it is emulated (then no per-card file applies).</param>
    /// <param name="measure">Measures the card's rates; called only when no file is chosen. Null result: nothing to measure.</param>
    /// <param name="directory">The profile folder (tests); the default folder when null.</param>
    public static SpeedProfile Choose(string? explicitPath, CardIdentity? card, Func<CardRates?> measure, string? directory = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
            return Loaded(explicitPath, CardProfileFile.Read(explicitPath), card);
        if (card is not null && CardProfileFile.DefaultPath(card, directory) is var path && File.Exists(path))
            return Loaded(path, CardProfileFile.Read(path), card);
        return measure() is { } rates
            ? SpeedProfile.Reference.ScaledTo(rates)
            : SpeedProfile.Reference with { Label = SpeedProfile.Reference.Label + " (no GPU here to measure)" };
    }

    /// <summary>The profile of a file, labelled with the file, the card and the date, and with what makes it less than
    /// this card's own measurement.</summary>
    public static SpeedProfile Loaded(string path, CardProfile profile, CardIdentity? card)
    {
        string date = DateTime.TryParse(profile.MeasuredAt, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var at)
            ? at.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
            : profile.MeasuredAt;
        string label = $"profile {path} ({profile.Card.DeviceName}, measured {date}";
        if (profile.DemoModel) label += "; timed with the tiny demo model, not the released one";
        if (card is not null && profile.Card != card) label += $"; measured on {profile.Card}, not this card ({card})";
        return profile.Speed with { Label = label + ")" };
    }
}
