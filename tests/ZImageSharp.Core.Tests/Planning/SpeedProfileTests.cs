using ZImageSharp.Contracts;
using ZImageSharp.Planning;
using static ZImageSharp.Core.Tests.Planning.PlannerFixture;

namespace ZImageSharp.Core.Tests.Planning;

/// <summary>Per-card speed profiles: scaling the reference, profiles written by <c>zimage bench --calibrate</c> (a real
/// CPU run with the demo model in tests/data/speed-profiles), how one is chosen, and damaged files.</summary>
public sealed class SpeedProfileTests : IDisposable
{
    private static string Data(string file) => Path.Combine(AppContext.BaseDirectory, "data", "speed-profiles", file);

    private readonly string _folder = Directory.CreateTempSubdirectory("zimage-profiles-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static double DenoiseSeconds(MemoryPlan plan) => plan.Phase(PlanPhase.Denoise).Time.TotalSeconds;

    [Fact]
    public void TheReferenceRecordsItsCardAndMatmulRate()
    {
        var reference = SpeedProfile.Reference;
        Assert.Equal("NVIDIA H100 80GB HBM3", reference.Card);
        Assert.Equal(781.6, reference.MatmulTeraflopsPerSecond);
        Assert.Equal("reference NVIDIA H100 80GB HBM3 profile, unscaled", reference.Label);
    }

    [Fact]
    public void AHalfAsFastCardTakesTwiceAsLongAndCopiesAtItsOwnLink()
    {
        var reference = SpeedProfile.Reference;
        var scaled = reference.ScaledTo(new CardRates(390.8, 25e9));
        for (int i = 0; i < reference.TransformerForwardSeconds.Count; i++)
            Assert.Equal(2 * reference.TransformerForwardSeconds[i].Seconds, scaled.TransformerForwardSeconds[i].Seconds, 12);
        Assert.Equal(2 * reference.VaeDecodeSecondsPerMegapixel, scaled.VaeDecodeSecondsPerMegapixel, 12);
        Assert.Equal(reference.Fp8UpcastBytesPerSecond / 2, scaled.Fp8UpcastBytesPerSecond, 3);
        Assert.Equal(25e9, scaled.HostToDeviceBytesPerSecond);
        Assert.Equal(reference.FileReadBytesPerSecond, scaled.FileReadBytesPerSecond);
        Assert.Equal("reference NVIDIA H100 80GB HBM3 profile, scaled by measured matmul 390.8 TFLOP/s and link 25 GB/s", scaled.Label);

        // Resident on a large card only compute counts: the denoise phase takes exactly twice as long.
        var fast = Planner.Plan(Card(80, Square(1024)));
        var slow = Planner.Plan(Card(80, Square(1024), speed: scaled));
        Assert.Equal(2 * DenoiseSeconds(fast), DenoiseSeconds(slow), 6);
        Assert.Equal(scaled.Label, slow.ToReport().SpeedSource);
    }

    [Fact]
    public void AProfileOfTheBenchIsReadBackAndItsMeasuredForwardsDriveThePlan()
    {
        var profile = CardProfileFile.Read(Data("cpu-demo-2026-12-03.json"));
        Assert.True(profile.DemoModel);
        var forwards = profile.Measurements.Phases.Where(p => p.Phase == CardMeasurements.TransformerForward).ToList();
        Assert.Equal(3, forwards.Count);
        // The curve is the measurements by sequence tokens: image tokens + caption padded to 32.
        var at512 = forwards.Single(p => p.Width == 512);
        int tokens512 = 512 / 16 * (512 / 16) + (at512.CaptionTokens + 31) / 32 * 32;
        var point = profile.Speed.TransformerForwardSeconds.Single(p => p.Tokens == tokens512);
        Assert.Equal(at512.Milliseconds / 1000, point.Seconds, 9);

        // A 512² request with that caption predicts steps × the measured forward.
        var speed = SpeedProfiles.Loaded(Data("cpu-demo-2026-12-03.json"), profile, card: null);
        var request = Square(512, captionTokens: at512.CaptionTokens);
        var plan = Planner.Plan(Card(80, request, speed: speed));
        Assert.Equal(request.Steps * at512.Milliseconds / 1000, DenoiseSeconds(plan), 6);
        Assert.NotEqual(DenoiseSeconds(Planner.Plan(Card(80, request))), DenoiseSeconds(plan));
        Assert.StartsWith($"profile {Data("cpu-demo-2026-12-03.json")} (CPU (AMD EPYC), measured 2026-12-03; timed with the tiny demo model", plan.ToReport().SpeedSource);
    }

    [Fact]
    public void ADerivedProfileRoundTripsAndSaysWhatItDidNotMeasure()
    {
        var measured = CardProfileFile.Read(Data("cpu-demo-2026-12-03.json")).Measurements;
        var card = new CardIdentity("NVIDIA Test Card", 24L << 30, "580.1");
        var profile = CardProfile.FromMeasurements(card, measured with { PinnedHostToDeviceBytesPerSecond = 20e9 }, "test", false, "zimage test",
            new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero));
        Assert.Equal(["VaeEncodeSecondsPerMegapixel", "VaeFloat32Slowdown", "Fp8UpcastBytesPerSecond", "CpuTextEncodeTokensPerSecond"], profile.NotMeasured);
        Assert.Equal(20e9, profile.Speed.HostToDeviceBytesPerSecond);
        Assert.Equal(measured.FileReadBytesPerSecond, profile.Speed.FileReadBytesPerSecond);
        // Text encode by caption tokens: the short prompt (averaged over its sizes) and the 512-token one.
        var encodes = measured.Phases.Where(p => p.Phase == CardMeasurements.TextEncode).ToList();
        Assert.Equal(encodes.Select(e => e.CaptionTokens).Distinct().Order().Select(t => (double)t), profile.Speed.TextEncodeSeconds.Select(p => p.Tokens));

        string path = Path.Combine(_folder, "nested", "card.json");
        CardProfileFile.Write(path, profile);
        Assert.Equal(["card.json"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        var again = CardProfileFile.Read(path);
        Assert.Equal(card, again.Card);
        Assert.Equal(profile.Speed.TransformerForwardSeconds, again.Speed.TransformerForwardSeconds);
        Assert.Equal(profile.Speed.VaeDecodeSecondsPerMegapixel, again.Speed.VaeDecodeSecondsPerMegapixel);
    }

    [Theory]
    [InlineData("truncated.json", "it is not a speed profile")]
    [InlineData("format-99.json", "its format is 99, this build reads format 1")]
    [InlineData("absent.json", "it does not exist")]
    public void ADamagedProfileIsRefusedNamingTheFile(string file, string reason)
    {
        var error = Assert.Throws<SpeedProfileFileException>(() => CardProfileFile.Read(Data(file)));
        Assert.Equal(Data(file), error.File);
        Assert.StartsWith($"The speed profile {Data(file)} cannot be used: {reason}", error.Message);
        Assert.IsAssignableFrom<FormatException>(error);
    }

    [Fact]
    public void ANamedFileWinsThenThisCardsFileThenTheScaledReference()
    {
        var card = new CardIdentity("NVIDIA Test Card", 24L << 30, "580.1");
        int measured = 0;
        CardRates? Measure() { measured++; return new CardRates(390.8, 25e9); }

        var scaled = SpeedProfiles.Choose(null, card, Measure, _folder);
        Assert.StartsWith("reference NVIDIA H100 80GB HBM3 profile, scaled by measured matmul 390.8", scaled.Label);
        Assert.Equal(1, measured);
        Assert.Equal("reference NVIDIA H100 80GB HBM3 profile, unscaled (no GPU here to measure)", SpeedProfiles.Choose(null, null, () => null, _folder).Label);

        var profile = CardProfileFile.Read(Data("cpu-demo-2026-12-03.json")) with { Card = card };
        CardProfileFile.Write(CardProfileFile.DefaultPath(card, _folder), profile);
        Assert.Equal(Path.Combine(_folder, "nvidia-test-card-24576mib-driver-580.1.json"), CardProfileFile.DefaultPath(card, _folder));
        var own = SpeedProfiles.Choose(null, card, Measure, _folder);
        Assert.Equal($"profile {CardProfileFile.DefaultPath(card, _folder)} (NVIDIA Test Card, measured 2026-12-03; timed with the tiny demo model, not the released one)", own.Label);
        Assert.Equal(1, measured); // a profile file means nothing is measured

        // Another card (a new driver) has no file of its own, so it gets the scaled reference.
        Assert.StartsWith("reference", SpeedProfiles.Choose(null, card with { Driver = "590.0" }, Measure, _folder).Label);

        var named = SpeedProfiles.Choose(Data("cpu-demo-2026-12-03.json"), card, Measure, _folder);
        Assert.Contains("measured on CPU (AMD EPYC), 23.5 GiB, not this card (NVIDIA Test Card, 24 GiB, driver 580.1)", named.Label);
    }

    [Fact]
    public void ADamagedFileOfThisCardIsAnErrorNotASilentFallback()
    {
        var card = new CardIdentity("NVIDIA Test Card", 24L << 30, "580.1");
        File.Copy(Data("truncated.json"), CardProfileFile.DefaultPath(card, _folder));
        var error = Assert.Throws<SpeedProfileFileException>(() => SpeedProfiles.Choose(null, card, () => new CardRates(1), _folder));
        Assert.Equal(CardProfileFile.DefaultPath(card, _folder), error.File);
    }

    [Fact]
    public void TheProfileFolderFollowsXdgCacheHome()
    {
        Assert.Equal(Path.Combine("/x/cache", "zimage", "profiles"), CardProfileFile.DefaultDirectory(v => v == "XDG_CACHE_HOME" ? "/x/cache" : null));
        Assert.Equal(Path.Combine("/home/u", ".cache", "zimage", "profiles"), CardProfileFile.DefaultDirectory(v => v == "HOME" ? "/home/u" : null));
    }

    [Fact]
    public void ThePlanTableSaysWhereItsTimesComeFrom()
    {
        var table = PlanTable.Format(PlanOn(24, Square(1024)));
        Assert.Contains("times from the reference NVIDIA H100 80GB HBM3 profile, unscaled", table);
        Assert.All(table.Split('\n'), line => Assert.True(line.TrimEnd('\r').Length <= PlanTable.Width, line));
    }
}
