using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Tests.Weights;
using ZImageSharp.Options;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>
/// An API-only node's engine (<see cref="EngineOptions.PlanOnly"/>) reads no weights, yet plans a request for another
/// node's worker, from the capacity that worker publishes, exactly as the worker plans it for itself.
/// </summary>
public sealed class PlanOnlyEngineTests
{
    private static ZImageEngine Create(string? vram, bool planOnly = false) => ZImageEngine.Create(new EngineOptions
    {
        ModelPath = TinyCheckpoint.Folder,
        Device = "cpu",
        VramBudget = vram is null ? null : ByteSize.Parse(vram),
        PlanOnly = planOnly,
    });

    private static IEnumerable<GenerationRequest> Requests()
    {
        foreach (int side in new[] { 256, 1024, 2048, 4096 })
        foreach (int count in new[] { 1, 4 })
        {
            yield return new GenerationRequest { Prompt = "a lighthouse at dusk", Width = side, Height = side, Count = count, Seed = 1 };
            yield return new GenerationRequest
            {
                Prompt = "a lighthouse at dusk", NegativePrompt = "blurry, low quality, extra fingers, watermark, text",
                GuidanceScale = 4, Width = side, Height = side / 2, Count = count, Seed = 1,
            };
        }
    }

    [Fact]
    public async Task APlanOnlyEngineHoldsNoWeightsAndRefusesToGenerate()
    {
        using var engine = Create(vram: null, planOnly: true);
        Assert.All(engine.Models.Transformer.parameters(), p => Assert.Equal(DeviceType.META, p.device.type));
        Assert.All(engine.Models.TextEncoder.parameters(), p => Assert.Equal(DeviceType.META, p.device.type));
        Assert.Equal(0, engine.DeviceWeightBytes);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            engine.GenerateAsync(new GenerationRequest { Prompt = "x", Width = 64, Height = 64, Steps = 1 }, null, CancellationToken.None));
        Assert.Contains("only plans", error.Message);
    }

    [Theory]
    [InlineData("64GiB", false)]
    [InlineData("1300MiB", true)]
    public void APlanOnlyEnginePlansForAWorkerFromItsCapacityAsTheWorkerDoes(string vram, bool someDoNotFit)
    {
        using var worker = Create(vram);
        using var api = Create(vram: null, planOnly: true);
        string capacity = worker.DescribeCapacity();

        var mine = Requests().Select(worker.Plan).ToList();
        var theirs = Requests().Select(r => api.Plan(r, capacity)).ToList();

        Assert.Contains(mine, p => p.Fits);
        Assert.Equal(someDoNotFit, mine.Any(p => !p.Fits));
        for (int i = 0; i < mine.Count; i++)
        {
            Assert.Equal(mine[i].Fits, theirs[i].Fits);
            // The summary names the host's free memory, which moves between two readings: compare it on one snapshot.
            Assert.Equal(worker.Plan(Requests().ElementAt(i), capacity).Summary, theirs[i].Summary);
            Assert.Equal(mine[i].PredictedPeakBytes, theirs[i].PredictedPeakBytes);
            Assert.Equal(mine[i].HostBytes, theirs[i].HostBytes);
            Assert.Equal(mine[i].LargestFittingSize, theirs[i].LargestFittingSize);
            Assert.Equal(mine[i].Phases, theirs[i].Phases);
        }
        // The API node's own plan is for its own (CPU) device: the capacity is what makes the plans the worker's.
        Assert.NotEqual(mine.Select(p => p.BudgetBytes), Requests().Select(r => api.Plan(r).BudgetBytes));
    }

    [Fact]
    public void ACapacityFromAnotherVersionIsAFormatError()
    {
        using var api = Create(vram: null, planOnly: true);
        var request = new GenerationRequest { Prompt = "x", Width = 64, Height = 64 };
        Assert.Throws<FormatException>(() => api.Plan(request, "{\"device\": 3}"));
        Assert.Throws<FormatException>(() => api.Plan(request, "not json"));
    }
}
