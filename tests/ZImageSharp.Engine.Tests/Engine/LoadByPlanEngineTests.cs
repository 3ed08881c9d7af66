using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Models;
using ZImageSharp.Engine.Tests.Weights;
using ZImageSharp.Errors;
using ZImageSharp.Options;
using ZImageSharp.Planning;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>
/// The engine on a diffusers folder (the demo written as a checkpoint), loaded by the plan as on a GPU: with
/// --vram-budget the modules are built on the meta device and filled from the files by the placer; host RAM is planned
/// like the card's memory; float32 is sized at 4 bytes.
/// </summary>
public sealed class LoadByPlanEngineTests
{
    private static readonly GenerationRequest Small = new() { Prompt = "a lighthouse", Width = 64, Height = 64, Steps = 2, Seed = 11 };

    private ZImageEngine Create(string? vram = "8GiB", string? ram = null, string dtype = "auto") => ZImageEngine.Create(new EngineOptions
    {
        ModelPath = TinyCheckpoint.Folder,
        Device = "cpu",
        VramBudget = vram is null ? null : ByteSize.Parse(vram),
        RamBudget = ram is null ? null : ByteSize.Parse(ram),
        ComputeDType = dtype,
    });

    [Fact]
    public async Task AFolderLoadedByThePlanDrawsExactlyWhatAFolderLoadedIntoModulesDraws()
    {
        using var loaded = Create(vram: null);
        Assert.Null(loaded.Models.Files); // no placer on the plain CPU path: the modules hold the weights
        var expected = await loaded.GenerateAsync(Small, null, CancellationToken.None);

        using var byPlan = Create();
        Assert.NotNull(byPlan.Models.Files);
        var actual = await byPlan.GenerateAsync(Small, null, CancellationToken.None);

        Assert.Equal(expected.Images[0].Png, actual.Images[0].Png);
    }

    [Fact]
    public async Task TheImageTheJobAndTheResultSayWhichPrecisionTheWeightsComputedIn()
    {
        using var engine = Create(dtype: "bf16");
        var result = await engine.GenerateAsync(Small, null, CancellationToken.None);
        var plan = engine.Plan(Small);

        Assert.Equal(plan.WeightsPrecision, result.WeightsPrecision);
        Assert.Equal("bf16", result.WeightsPrecision); // a tiny model on an 8 GiB card: nothing needs fp8
        var text = ZImageSharp.Imaging.PngReader.Read(result.Images[0].Png).GetText(ZImageSharp.Imaging.ImageParameters.InfotextKeyword);
        Assert.Contains($"Weights: {result.WeightsPrecision}", text);

        using var float32 = Create(dtype: "fp32");
        Assert.Equal("fp32", (await float32.GenerateAsync(Small, null, CancellationToken.None)).WeightsPrecision);
    }

    [Fact]
    public void AHostTooSmallForAnyPlanIsRefusedBeforeAnyWeightIsRead()
    {
        var error = Assert.Throws<NoPlanFitsException>(() => Create(ram: "64MiB"));
        Assert.Equal("host", error.Phase);
        Assert.Contains("does not fit this host's memory", error.Message);
        Assert.Contains("--ram-budget 64.0 MiB", error.Message);
    }

    [Fact]
    public void WithARamBudgetThePlanCountsHostMemoryAndKeepsNoCopyOfWhatStaysOnTheCard()
    {
        using var engine = Create(ram: "64GiB");
        var plan = engine.BuildPlan(Small);
        Assert.True(plan.Fits, plan.Summary);
        Assert.Equal(Placement.Resident, plan.Transformer.Placement);
        // Everything stays loaded, so the only host memory the plan holds is the staging for reading the files.
        Assert.Equal(engine.PlannerOptions.HostStagingBytes, plan.HostBytes);
        var report = engine.Plan(Small);
        Assert.NotNull(report.HostBudgetBytes);
        Assert.All(report.Phases, p => Assert.Equal(0, p.PredictedHostBytes));
        Assert.Contains("host RAM", plan.Summary);
    }

    [Fact]
    public void Float32IsPlannedAtFourBytesPerWeight()
    {
        using var fp32 = Create(dtype: "fp32");
        using var bf16 = Create(dtype: "bf16");
        // The placed modules' parameters are empty; count the elements of the architecture the folder describes.
        using var meta = new ZImageSharp.Engine.Models.Transformer.ZImageTransformer(
            ZImageSharp.Engine.Models.Transformer.ZImageTransformerConfig.FromJson(Path.Combine(TinyCheckpoint.Folder, "transformer", "config.json")),
            new torch.Device(DeviceType.META));
        long elements = meta.named_parameters().Sum(p => p.parameter.numel());
        var fp32Plan = fp32.BuildPlan(Small);
        var bf16Plan = bf16.BuildPlan(Small);

        Assert.True(4 * elements == fp32Plan.Transformer.ResidentWeightBytes, $"{4 * elements} vs {fp32Plan.Transformer.ResidentWeightBytes}: {fp32Plan.Summary}");
        long bf16Bytes = meta.named_parameters()
            .Sum(p => p.parameter.numel() * (ModelMemoryDescription.KeepsFloat32(Component.Transformer, p.name) ? 4 : 2));
        Assert.Equal(bf16Bytes, bf16Plan.Transformer.ResidentWeightBytes); // 2 bytes, the float32 islands at 4
        Assert.True(bf16Bytes < 4 * elements);
        Assert.True(fp32Plan.Phase(PlanPhase.Denoise).ActivationBytes == 2 * bf16Plan.Phase(PlanPhase.Denoise).ActivationBytes);
        Assert.Equal("fp32", fp32Plan.WeightsPrecision);
        Assert.Equal(torch.ScalarType.Float32, fp32.Models.Transformer.DType);
    }
}
