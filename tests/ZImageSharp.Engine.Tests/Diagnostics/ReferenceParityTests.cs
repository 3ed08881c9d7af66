using System.Text.Json;
using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Cli.Commands;
using ZImageSharp.Engine.Diagnostics;
using ZImageSharp.Engine.Weights;

namespace ZImageSharp.Engine.Tests.Diagnostics;

/// <summary>
/// ReferenceParity (what <c>zimage parity</c> renders) on the CPU: every fixture set of the reference folder, float32
/// at 1e-4 and bfloat16 at 2e-2, with no row missing.
/// </summary>
[Trait("Category", "Parity")]
public class ReferenceParityTests(ITestOutputHelper output)
{
    private static readonly string[] Sets = ["dit_case0", "dit_case1", "qwen3_case0", "vae_case0", "scheduler", "pipeline_case0"];

    [SkippableFact]
    public void EveryFloat32RowPassesOnTheCpu()
    {
        var rows = RunAll(torch.ScalarType.Float32);
        Assert.All(rows, r => Assert.True(r.Passed && r.RelativeError <= 1e-4,
            $"{r.Set} {r.Output}: relative error {r.RelativeError:E2} ({r.Outcome}; {r.Note})"));
        Assert.All(rows, r => Assert.Null(r.RoundingFloor));
    }

    /// <summary>
    /// bf16 on the CPU passes 2e-2 on every row but two, and the transformer rows (DiT and loop latents) keep a margin
    /// below 1.6e-2 for CUDA's different kernels. The two are the VAE's last convolution (32 → 3 channels), left out on
    /// the CPU because libtorch's CPU bf16 conv2d with fewer than 16 output channels loses 20–50 % (measured on a bare
    /// conv2d), which CUDA's kernels do not.
    /// </summary>
    [SkippableFact]
    public void EveryBFloat16RowPassesOnTheCpu()
    {
        const double TransformerMargin = 1.6e-2;
        var rows = RunAll(torch.ScalarType.BFloat16);
        Assert.All(rows, r => Assert.NotNull(r.RoundingFloor));
        foreach (var r in rows)
        {
            bool cpuConvKernel = (r.Set, r.Output) is ("vae_case0", "decoded") or ("pipeline_case0", "image");
            if (cpuConvKernel)
            {
                output.WriteLine($"{r.Set} {r.Output}: {r.RelativeError:E2} (floor {r.RoundingFloor:E2}), not asserted on the CPU");
                continue;
            }
            Assert.True(r.Passed, $"{r.Set} {r.Output}: relative error {r.RelativeError:E2} (floor {r.RoundingFloor:E2})");
            if (r.Set.StartsWith("dit_", StringComparison.Ordinal) || r.Output.StartsWith("latents_", StringComparison.Ordinal))
                Assert.True(r.RelativeError <= TransformerMargin,
                    $"{r.Set} {r.Output}: relative error {r.RelativeError:E2} > {TransformerMargin:E1} (floor {r.RoundingFloor:E2})");
        }
    }

    [Fact]
    public void AnAbsentSetIsSkippedNeverPassed()
    {
        var folder = Directory.CreateTempSubdirectory("zimage-parity-").FullName;
        try
        {
            var rows = new ReferenceParity(folder, torch.CPU, torch.ScalarType.Float32).Run();
            Assert.Equal(Sets, rows.Select(r => r.Set));
            Assert.All(rows, r =>
            {
                Assert.Equal(ParityOutcome.Skipped, r.Outcome);
                Assert.False(r.Passed);
                Assert.Null(r.RelativeError);
                Assert.StartsWith("absent: ", r.Note);
            });
            Assert.Contains("dit_weights.json", rows[0].Note);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void AMissingFolderIsAClearError()
    {
        var missing = Path.Combine(Path.GetTempPath(), "zimage-parity-does-not-exist");
        var e = Assert.Throws<DirectoryNotFoundException>(() => new ReferenceParity(missing, torch.CPU, torch.ScalarType.Float32));
        Assert.Contains(missing, e.Message);
        Assert.Contains("ZIMAGE_REFERENCE_DIR", e.Message);

        var settings = new ParityCommand.Settings { Reference = missing };
        var validation = settings.Validate();
        Assert.False(validation.Successful);
        Assert.Contains(missing, validation.Message);
        Assert.False(new ParityCommand.Settings { Reference = TestData.ReferenceDir, DType = "fp16" }.Validate().Successful);
    }

    [Fact]
    public void TheRelativeErrorIsTheNormRatioInFloat64()
    {
        using var expected = torch.tensor(new[] { 3f, 4f });
        using var actual = torch.tensor(new[] { 3f, 4.5f });
        Assert.Equal(0.1, ReferenceParity.RelativeError(actual.to(torch.ScalarType.BFloat16), expected), 12);
        using var zero = torch.zeros(2);
        Assert.Equal(0.0, ReferenceParity.RelativeError(zero, zero));
        Assert.Equal(double.PositiveInfinity, ReferenceParity.RelativeError(actual, zero));
        Assert.Throws<ArgumentException>(() => ReferenceParity.RelativeError(torch.zeros(3), expected));
    }

    /// <summary>Runs every set, skips when one is absent, and checks that each set produced all its rows.</summary>
    private List<ParityRow> RunAll(torch.ScalarType dtype)
    {
        Skip.IfNot(Directory.Exists(TestData.ReferenceDir), $"reference folder absent: {TestData.ReferenceDir}");
        var rows = new ReferenceParity(TestData.ReferenceDir, torch.CPU, dtype).Run().ToList();
        Skip.If(rows.Any(r => r.Outcome == ParityOutcome.Skipped),
            "fixture set absent: " + string.Join("; ", rows.Where(r => r.Outcome == ParityOutcome.Skipped).Select(r => $"{r.Set} ({r.Note})")));
        foreach (var r in rows)
            output.WriteLine($"{r.Set,-15} {r.Output,-45} {r.DType} {r.RelativeError:E2} floor {r.RoundingFloor:E2} {r.Outcome}");

        Assert.DoesNotContain(rows, r => r.RelativeError is null);                            // no "(error)" row
        foreach (var (set, count) in ExpectedRowCounts())
            Assert.True(rows.Count(r => r.Set == set) == count, $"{set}: expected {count} rows, got {rows.Count(r => r.Set == set)}");
        Assert.Equal(ExpectedRowCounts().Values.Sum(), rows.Count);
        return rows;
    }

    /// <summary>Rows per set, from the fixtures themselves: one per DiT sample, the padded batch plus one per prompt,
    /// decode + mean + log-variance, two table rows + the step, one per loop step + the image.</summary>
    private static Dictionary<string, int> ExpectedRowCounts()
    {
        int Json(string file, string key)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(TestData.Reference(file)));
            return doc.RootElement.GetProperty(key).GetInt32();
        }
        using var qwen = SafetensorsFile.Open(TestData.Reference("qwen3_case0.safetensors"));
        return new()
        {
            ["dit_case0"] = Json("dit_case0.json", "batch"),
            ["dit_case1"] = Json("dit_case1.json", "batch"),
            ["qwen3_case0"] = 1 + (int)qwen.Describe("input_ids").Shape[0],
            ["vae_case0"] = 3,
            ["scheduler"] = 3,
            ["pipeline_case0"] = Json("pipeline_case0.json", "steps") + 1,
        };
    }
}
