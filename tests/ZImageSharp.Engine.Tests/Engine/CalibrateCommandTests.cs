using System.Text.RegularExpressions;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary><c>zimage bench --calibrate</c> on the CPU with the demo model, end to end: the profile is written, read
/// back, and <c>plan</c> predicts with it and says so; a damaged profile is refused naming the file.</summary>
[Collection(CliCollection.Name)]
public sealed partial class CalibrateCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("zimage-calibrate-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Profile => Path.Combine(_dir.FullName, "card.json");

    [GeneratedRegex(@"total\s+\S+ GiB\s+\S+ \S+\s+(?<seconds>[0-9.]+) s")]
    private static partial Regex TotalTime();

    private static double PlannedSeconds(string stdout) => double.Parse(TotalTime().Match(stdout).Groups["seconds"].Value, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void CalibrationWritesAProfileThatPlanPredictsWithAndNames()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", "--calibrate", "--device", "cpu", "--demo", "--sizes", "128,256",
            "--steps", "2", "--runs", "1", "--speed-profile", Profile);
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains($"wrote the speed profile {Profile}", stdout);
        Assert.Equal(["card.json"], _dir.GetFiles().Select(f => f.Name)); // no temporary file left behind

        var profile = CardProfileFile.Read(Profile);
        Assert.True(profile.DemoModel);
        Assert.StartsWith("CPU (", profile.Card.DeviceName);
        Assert.Null(profile.Measurements.PinnedHostToDeviceBytesPerSecond);
        Assert.True(profile.Measurements.MatmulTeraflopsPerSecond > 0);
        // Two sizes with the short prompt and the first again with the 512-token caption, four phases each.
        Assert.Equal(12, profile.Measurements.Phases.Count);
        Assert.Equal(3, profile.Speed.TransformerForwardSeconds.Count);
        Assert.Equal(2, profile.Speed.TextEncodeSeconds.Count);
        Assert.All(profile.Measurements.Phases, p => Assert.True(p.Milliseconds > 0, $"{p.Phase} at {p.Width}: {p.Milliseconds} ms"));

        var (planCode, withProfile, planErr) = CliRunner.Run("plan", "--vram-budget", "24GiB", "--speed-profile", Profile);
        Assert.True(planCode == 0, planErr);
        Assert.Contains($"times from the profile {Profile}", withProfile.ReplaceLineEndings(" "));
        var (_, reference, _) = CliRunner.Run("plan", "--vram-budget", "24GiB");
        Assert.Contains("times from the reference NVIDIA H100 80GB HBM3 profile, unscaled", reference.ReplaceLineEndings(" "));
        // The CPU and the demo model are far slower than the reference card: the measured profile predicts longer.
        Assert.True(PlannedSeconds(withProfile) > PlannedSeconds(reference), $"{PlannedSeconds(withProfile)} s vs {PlannedSeconds(reference)} s");
    }

    [Fact]
    public void ADamagedProfileIsAUsageErrorNamingTheFile()
    {
        File.WriteAllText(Profile, "{\"format\": 1, \"card\": ");
        var (code, stdout, stderr) = CliRunner.Run("plan", "--vram-budget", "24GiB", "--speed-profile", Profile);
        Assert.Equal(2, code);
        Assert.Contains($"error: The speed profile {Profile} cannot be used: it is not a speed profile", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.Equal("", stdout);

        // The engine refuses it too, before any generation.
        var (generateCode, _, generateErr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "x", "--steps", "1",
            "--width", "64", "--height", "64", "--output", Path.Combine(_dir.FullName, "x.png"), "--speed-profile", Profile);
        Assert.Equal(2, generateCode);
        Assert.Contains($"The speed profile {Profile} cannot be used", generateErr);
        Assert.False(File.Exists(Path.Combine(_dir.FullName, "x.png")));
    }
}
