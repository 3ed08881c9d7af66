using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Engine.Execution;
using ZImageSharp.Engine.Lora;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Engine.Weights;
using ZImageSharp.Planning;
using static TorchSharp.torch;
using static ZImageSharp.Engine.Tests.Execution.PlacementKit;

namespace ZImageSharp.Engine.Tests.Lora;

/// <summary>
/// LoRA files of every format (tests/data/lora, written by scripts/make-lora-fixtures.py with ΔW computed there by the
/// plain math) against the tiny reference DiT: each maps to its expected ΔW, the PEFT-equivalent spellings to the same
/// one; merged, runtime-applied (streamed, fp8-free) and the "weights + ΔW" reference model compute the same output;
/// undo is bit-exact; a key the reader does not know is an error naming it.
/// </summary>
[Trait("Category", "Parity")]
public sealed class LoraParityTests(ITestOutputHelper output)
{
    private const float Strength = 0.8f;

    private static string LoraPath(string file) => Path.Combine(AppContext.BaseDirectory, "data", "lora", file);

    private static LoraTargets Targets()
    {
        using var file = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors"));
        return new LoraTargets(file.Names.Select(n => (n, file.Describe(n).Shape)));
    }

    public static TheoryData<string, string> Formats => new()
    {
        { "peft.safetensors", "expected_lora.safetensors" },
        { "aitoolkit.safetensors", "expected_lora.safetensors" },
        { "kohya.safetensors", "expected_lora.safetensors" },
        { "fused_qkv.safetensors", "expected_lora.safetensors" },
        { "lokr.safetensors", "expected_lokr.safetensors" },
        { "loha.safetensors", "expected_loha.safetensors" },
    };

    [SkippableTheory]
    [MemberData(nameof(Formats))]
    public void EachFormatMapsToItsExpectedDelta(string lora, string expected)
    {
        RequireFixtures();
        using var file = LoraFile.Load(LoraPath(lora), Targets());
        using var want = SafetensorsFile.Open(LoraPath(expected));
        output.WriteLine($"{lora}: {file.Format}, {file.Targets.Count} targets, hash {file.ShortHash}");
        Assert.Equal(want.Names.Order(StringComparer.Ordinal), file.Targets.Select(t => t.Parameter).Order(StringComparer.Ordinal));
        double worst = 0;
        foreach (var target in file.Targets)
        {
            using var delta = target.Delta.Dense(CPU, ScalarType.Float32);
            using var reference = want.Read(target.Parameter);
            double e = TensorAssert.RelativeError(delta, reference);
            worst = Math.Max(worst, e);
            Assert.True(e < 1e-6, $"{lora} {target.Parameter}: ΔW off by {e:E2}");
        }
        output.WriteLine($"worst ΔW relative error {worst:E2}");
    }

    [SkippableFact]
    public void FormatsAreDetected()
    {
        RequireFixtures();
        var targets = Targets();
        string FormatOf(string f) { using var file = LoraFile.Load(LoraPath(f), targets); return file.Format; }
        Assert.Equal("PEFT/diffusers LoRA", FormatOf("peft.safetensors"));
        Assert.Equal("AI-Toolkit LoRA", FormatOf("aitoolkit.safetensors"));
        Assert.Equal("kohya LoRA", FormatOf("kohya.safetensors"));
        Assert.Equal("AI-Toolkit LoRA on fused qkv", FormatOf("fused_qkv.safetensors"));
        Assert.Equal("kohya LoKr on fused qkv", FormatOf("lokr.safetensors"));
        Assert.Equal("AI-Toolkit LoHa", FormatOf("loha.safetensors"));
    }

    [SkippableTheory]
    [InlineData("bad_unknown_suffix.safetensors", "transformer.layers.1.feed_forward.w1.lora_magnitude_vector")]
    [InlineData("bad_unknown_module.safetensors", "lora_unet_layers_7_attention_to_q.lora_down.weight")]
    [InlineData("bad_shape.safetensors", "transformer.layers.0.attention.to_q.lora_A.weight")]
    public void AFileWithAKeyItCannotUseIsRefusedNamingTheKey(string lora, string key)
    {
        RequireFixtures();
        var e = Assert.Throws<LoraException>(() => LoraFile.Load(LoraPath(lora), Targets()));
        output.WriteLine(e.Message);
        Assert.Contains($"'{key}'", e.Message);
    }

    /// <summary>The reference: the plain model whose targeted weights were set, by the math, to W + Σ s·ΔW (float32).</summary>
    private static ZImageTransformer ReferenceWithDeltas(params (string Expected, float Strength)[] files)
    {
        var model = LoadTransformer();
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var noGrad = no_grad();
        foreach (var (expected, strength) in files)
        {
            using var want = SafetensorsFile.Open(LoraPath(expected));
            foreach (var name in want.Names)
            {
                using var delta = want.Read(name);
                using var s = ((double)strength).ToScalar();
                parameters[name].add_(delta, s);
            }
        }
        return model;
    }

    [SkippableFact]
    public void MergedRuntimeAndReferenceAgreeAndUndoIsExact()
    {
        RequireFixtures();
        var targets = Targets();
        using var inputs = new DitInputs();
        using var lora = LoraFile.Load(LoraPath("kohya.safetensors"), targets);
        using var lokr = LoraFile.Load(LoraPath("lokr.safetensors"), targets);
        var set = new LoraSet([new AppliedLora(lora, Strength), new AppliedLora(lokr, 0.5f)]);

        using var reference = ReferenceWithDeltas(("expected_lora.safetensors", Strength), ("expected_lokr.safetensors", 0.5f));
        using var expected = inputs.Run(reference);

        using var model = LoadTransformer();
        var before = Snapshot(model);
        using var plain = inputs.Run(model);
        double loraEffect = TensorAssert.RelativeError(expected, plain);
        output.WriteLine($"the LoRAs change the output by {loraEffect:E2}");
        Assert.InRange(loraEffect, 1e-3, 10);

        // Merged into the plain module's weights (float32), undone from the saved originals.
        using (var patcher = new LoraPatcher(model))
        {
            var weights = new ModuleWeights();
            patcher.Apply(set, weights);
            Assert.Empty(patcher.Adapted);
            Assert.Equal(set.ByParameter.Count, patcher.Merged.Count);
            using var merged = inputs.Run(model);
            double e = TensorAssert.RelativeError(merged, expected);
            output.WriteLine($"merged vs reference {e:E2}");
            Assert.True(e < 1e-5, $"merged vs reference {e:E2}");
            patcher.Apply(set, weights); // the same set again: nothing changes
            using var again = inputs.Run(model);
            Assert.Equal(0.0, TensorAssert.RelativeError(again, merged));
            patcher.Apply(null, weights);
            AssertBitEqual(before, Snapshot(model));
            using var undone = inputs.Run(model);
            Assert.Equal(0.0, TensorAssert.RelativeError(undone, plain));
        }
        DisposeAll(before);
    }

    [SkippableFact]
    public void StreamedRuntimeAndResidentMergedPlacementsAgree()
    {
        RequireFixtures();
        var targets = Targets();
        using var inputs = new DitInputs();
        using var peft = LoraFile.Load(LoraPath("peft.safetensors"), targets);
        using var loha = LoraFile.Load(LoraPath("loha.safetensors"), targets);
        var set = new LoraSet([new AppliedLora(peft, Strength), new AppliedLora(loha, -0.7f)]);
        using var reference = ReferenceWithDeltas(("expected_lora.safetensors", Strength), ("expected_loha.safetensors", -0.7f));
        using var expected = inputs.Run(reference);

        foreach (var placement in new[]
                 {
                     DitAt(Placement.Resident, true),
                     DitAt(Placement.StreamedBf16, false),
                     DitAt(Placement.StreamedBf16, true, "noise_refiner.0", "layers.1"),
                 })
        {
            using var model = LoadTransformer();
            using var placer = new ComponentPlacer(model, null, null, TeAt(Placement.Resident, true), placement, VaeAt(), SimulatedDevice);
            using var patcher = new LoraPatcher(model);
            placer.BeforePhase(PlanPhase.Denoise);
            patcher.Apply(set, placer.MergeableWeights(Component.Transformer));
            using var first = inputs.Run(model);
            placer.AfterPhase(PlanPhase.Denoise);
            // The next request: the weights may have been released and loaded again; the patcher redoes what was lost.
            placer.BeforePhase(PlanPhase.Denoise);
            patcher.Apply(set, placer.MergeableWeights(Component.Transformer));
            using var second = inputs.Run(model);
            double e1 = TensorAssert.RelativeError(first, expected), e2 = TensorAssert.RelativeError(second, expected);
            output.WriteLine($"{placement.Describe()}: merged {patcher.Merged.Count}, runtime {patcher.Adapted.Count}: {e1:E2} / {e2:E2}");
            Assert.True(e1 < 1e-5 && e2 < 1e-5, $"{placement.Describe()}: {e1:E2} / {e2:E2}");
            if (placement.Placement == Placement.Resident) Assert.Empty(patcher.Adapted);
            else Assert.NotEmpty(patcher.Adapted);
            Assert.NotEmpty(patcher.Merged); // the rest (embedders, final layer) is resident in every placement

            // Undo: the placer loads the originals again; the model computes the plain output exactly.
            patcher.Apply(null, placer.MergeableWeights(Component.Transformer));
            Assert.Empty(patcher.Merged);
            Assert.Empty(patcher.Adapted);
            using var undone = inputs.Run(model);
            placer.AfterPhase(PlanPhase.Denoise);
            using var plainModel = LoadTransformer();
            using var plain = inputs.Run(plainModel);
            Assert.Equal(0.0, TensorAssert.RelativeError(undone, plain));
        }
    }

    [SkippableFact]
    public void Bf16MergeRoundsOnceAndUndoIsBitExact()
    {
        RequireFixtures();
        var targets = Targets();
        using var model = LoadTransformer();
        using var file = LoraFile.Load(LoraPath("fused_qkv.safetensors"), targets);
        using var bf16 = new ZImageTransformer(model.Config, dtype: ScalarType.BFloat16);
        using (var source = SafetensorsFile.Open(TestData.Reference("dit_weights.safetensors"))) WeightLoader.LoadInto(bf16, source);
        var before = Snapshot(bf16);
        using var patcher = new LoraPatcher(bf16);
        var set = new LoraSet([new AppliedLora(file, Strength)]);
        patcher.Apply(set, new ModuleWeights());
        var parameters = bf16.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var target in file.Targets)
        {
            // bf16(W + s·ΔW) with the sum in float32: one rounding (ΔW itself is checked against the math above; here
            // the engine's own float32 ΔW, since one float32 ulp of it can move a bf16 rounding).
            string name = target.Parameter;
            using var delta = target.Delta.Dense(CPU, ScalarType.Float32);
            using var s = ((double)Strength).ToScalar();
            using var w32 = before[name].to(ScalarType.Float32);
            using var sum = w32.add(delta, s);
            using var rounded = sum.to(parameters[name].dtype);
            Assert.True(TensorAssert.Identical(rounded, parameters[name]), $"{name} is not the once-rounded merge");
        }
        patcher.Apply(null, new ModuleWeights());
        AssertBitEqual(before, Snapshot(bf16));
        DisposeAll(before);
    }

    private static Dictionary<string, Tensor> Snapshot(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

    private static void AssertBitEqual(Dictionary<string, Tensor> a, Dictionary<string, Tensor> b)
    {
        foreach (var (name, t) in a)
            Assert.True(TensorAssert.Identical(t, b[name]), $"{name} differs after undo");
        DisposeAll(b);
    }

    private static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
