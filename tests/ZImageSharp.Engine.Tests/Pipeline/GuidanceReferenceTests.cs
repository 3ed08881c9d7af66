using System.Text.Json;
using TorchSharp;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Tests.Transformer;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Pipeline;

/// <summary>The denoiser's CFG against tests/data/guidance/cfg.json (scripts/guidance-reference.py: diffusers'
/// ZImagePipeline math written out in Python): which steps cfg_truncation leaves guided, and pos + g·(pos − neg) with
/// cfg_normalization's rescale. Shapes and cases come from the file.</summary>
public class GuidanceReferenceTests
{
    private static JsonElement Reference(string section)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "guidance", "cfg.json")));
        return doc.RootElement.GetProperty(section).Clone();
    }

    public static TheoryData<int> TruncationCases() => Cases("truncation");

    public static TheoryData<int> CombineCases() => Cases("combine");

    private static TheoryData<int> Cases(string section)
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Reference(section).GetArrayLength(); i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(TruncationCases))]
    public void Each_step_runs_with_the_guidance_diffusers_gives_it(int index)
    {
        var c = Reference("truncation")[index];
        var options = new DenoiseOptions
        {
            Steps = c.GetProperty("steps").GetInt32(),
            Shift = c.GetProperty("shift").GetDouble(),
            FirstStep = c.GetProperty("first_step").GetInt32(),
            GuidanceScale = c.GetProperty("guidance_scale").GetSingle(),
            CfgTruncation = c.GetProperty("cfg_truncation").GetSingle(),
        };
        var expected = c.GetProperty("step_guidance").EnumerateArray().Select(g => g.GetSingle()).ToArray();
        var actual = Denoiser.StepGuidance(options, Denoiser.StepSigmas(options));
        Assert.Equal(options.StepsRun, expected.Length);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(CombineCases))]
    public void The_guided_prediction_is_diffusers_with_its_normalization(int index)
    {
        var c = Reference("combine")[index];
        long[] shape = c.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        float guidance = c.GetProperty("guidance_scale").GetSingle();
        float normalization = c.GetProperty("cfg_normalization").GetSingle();
        using var scope = NewDisposeScope();
        var pos = Values(c, "pos", shape);
        var neg = Values(c, "neg", shape);
        var expected = Values(c, "expected", shape);
        using var g = guidance.ToScalar();
        using var limit = normalization.ToScalar();

        var actual = Denoiser.CombineGuidance(pos, neg, g, limit, normalization);

        Assert.Equal(shape, actual.shape);
        Assert.Equal(ScalarType.Float32, actual.dtype);
        Assert.True(TensorAssert.RelativeError(actual, expected) < 1e-6, $"relative error {TensorAssert.RelativeError(actual, expected):E2}");
        // Rescaled exactly when diffusers rescales: then the norm is c·‖pos‖.
        if (c.GetProperty("rescaled").GetBoolean())
            Assert.Equal(normalization * pos.norm().item<float>(), actual.norm().item<float>(), 4);
        else
            Assert.True(normalization == 0 || actual.norm().item<float>() <= normalization * pos.norm().item<float>());
    }

    private static Tensor Values(JsonElement c, string name, long[] shape) =>
        tensor(c.GetProperty(name).EnumerateArray().Select(v => (float)v.GetDouble()).ToArray()).reshape(shape);
}
