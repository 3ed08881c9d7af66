using ZImageSharp.Contracts;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Errors;
using ZImageSharp.Options;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>
/// Out-of-memory recovery without a GPU: the demo model on the CPU, planned as if the card had 8 GiB (so weights go
/// through the placer exactly as on a GPU), with libtorch-shaped OOM errors forced at each phase.
/// </summary>
public class RecoveryTests
{
    private static readonly GenerationRequest Small = new() { Prompt = "a lighthouse", Width = 64, Height = 64, Steps = 2, Seed = 3 };

    private static ZImageEngine CreateEngine(IFaultInjector faults) =>
        ZImageEngine.Create(new EngineOptions { Device = "cpu", VramBudget = ByteSize.Parse("8GiB") }, faults);

    [Theory]
    [InlineData(FaultPoint.Encode)]
    [InlineData(FaultPoint.Denoise)]
    [InlineData(FaultPoint.Decode)]
    public async Task AnOutOfMemoryInAPhaseIsRecoveredAndTheNextGenerationRunsNormally(FaultPoint point)
    {
        var faults = new OutOfMemoryInjector(new Dictionary<FaultPoint, int> { [point] = 1 });
        using var engine = CreateEngine(faults);
        var first = await engine.GenerateAsync(Small, null, CancellationToken.None);
        Assert.Equal(1, first.OomRecoveries);
        Assert.Single(first.Images);
        Assert.Equal(0, faults.Remaining(point));

        var second = await engine.GenerateAsync(Small, null, CancellationToken.None);
        Assert.Equal(0, second.OomRecoveries);
        // Recovery changes where weights live, never the numbers: the same seed gives the same PNG.
        Assert.Equal(first.Images[0].Png, second.Images[0].Png);
    }

    [Fact]
    public async Task OnTheCpuThePlanSummarySaysWhatRunsAndWhichCardThePlanEmulates()
    {
        using var engine = CreateEngine(new OutOfMemoryInjector(new Dictionary<FaultPoint, int>()));
        var result = await engine.GenerateAsync(Small, null, CancellationToken.None);
        Assert.StartsWith("64x64 on the CPU: every component in RAM, float32; plan for the emulated 8.00 GiB card: 64x64 in ", result.PlanSummary);

        using var plain = ZImageEngine.Create(new EngineOptions { Device = "cpu" });
        Assert.Equal("64x64 on the CPU: every component in RAM, float32", plain.DescribePlan(plain.BuildPlan(Small)));
    }

    [Fact]
    public async Task WhenNoLeanerPlanIsLeftTheErrorNamesThePhaseAndTheEngineStaysHealthy()
    {
        var faults = new OutOfMemoryInjector(new Dictionary<FaultPoint, int> { [FaultPoint.Denoise] = 100 });
        using var engine = CreateEngine(faults);
        var error = await Assert.ThrowsAsync<ZImageException>(() => engine.GenerateAsync(Small, null, CancellationToken.None));
        Assert.Equal(ErrorCode.OutOfMemory, error.Code);
        Assert.Contains("denoise phase ran out of device memory", error.Message);
        Assert.Contains("largest size predicted to fit", error.Message);

        // Drain the injector: the very next request on the same engine succeeds.
        while (faults.Remaining(FaultPoint.Denoise) > 0)
            try { faults.At(FaultPoint.Denoise); } catch (InjectedOutOfMemoryException) { }
        var after = await engine.GenerateAsync(Small, null, CancellationToken.None);
        Assert.Single(after.Images);
    }

    [Fact]
    public void InjectionSpecsParseAndRejectUnknownPhases()
    {
        var faults = OutOfMemoryInjector.Parse("denoise:2, decode");
        Assert.Equal(2, faults.Remaining(FaultPoint.Denoise));
        Assert.Equal(1, faults.Remaining(FaultPoint.Decode));
        var error = Assert.Throws<ArgumentException>(() => OutOfMemoryInjector.Parse("vae"));
        Assert.Contains("'vae' is not a phase", error.Message);
        Assert.True(OutOfMemory.IsOutOfMemory(new InjectedOutOfMemoryException(FaultPoint.Decode)));
    }
}
