using ZImageSharp.Contracts;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Native;
using ZImageSharp.Options;

namespace ZImageSharp.Engine.Tests.Diagnostics;

/// <summary>The measurements behind speed profiles, on the CPU.</summary>
public sealed class SpeedProbeTests
{
    [Fact]
    public void OnTheCpuThereIsNoCardToScaleToButMatmulsAreTimed()
    {
        var cpu = TorchRuntime.Initialize("cpu", null);
        Assert.Null(CardRateProbe.Measure(cpu));
        Assert.True(CardRateProbe.MatmulTeraflops(cpu, TorchSharp.torch.ScalarType.Float32, CardRateProbe.CpuShapes, minSeconds: 0) > 0);
        var card = CardIdentities.Of(cpu);
        Assert.StartsWith("CPU (", card.DeviceName);
        Assert.Null(card.Driver);
    }

    [Fact]
    public void TheForwardSpanCoversEachForwardAndLeavesTheRestOfTheStepApart()
    {
        using var engine = ZImageEngine.Create(new EngineOptions { Device = "cpu" });
        var request = new GenerationRequest { Prompt = "a fox", Width = 128, Height = 128, Steps = 3, Seed = 1 };
        var timed = TimedGeneration.Run(engine, request, CancellationToken.None);
        // One span per step: if the transformer's first or last stage were renamed, none would be recorded.
        Assert.Equal(3, timed.ForwardMs.Count);
        Assert.Equal(3, timed.StepMs.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(timed.ForwardMs[i] > 0);
            Assert.True(timed.ForwardMs[i] <= timed.StepMs[i], $"step {i}: forward {timed.ForwardMs[i]} ms in a step of {timed.StepMs[i]} ms");
        }
        Assert.Null(engine.Models.Transformer.Profile);
        Assert.Equal(timed.StepMs.Zip(timed.ForwardMs, (s, f) => s - f), timed.StepOverheadMs);
    }

    [Fact]
    public void FileReadsAreTimedOnATemporaryFileThatIsThenRemoved()
    {
        var (rate, source) = FileReadProbe.Measure(null, 4L << 20);
        Assert.True(rate > 0);
        Assert.Contains("4 MiB temporary file", source);
        Assert.Empty(Directory.GetFiles(Path.GetTempPath(), $"zimage-read-probe-{Environment.ProcessId}.bin"));
    }
}
