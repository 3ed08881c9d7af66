using TorchSharp;
using ZImageSharp.Engine.Models.Transformer;
using ZImageSharp.Errors;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Transformer;

public class ZImageTransformerTests
{
    private static readonly ZImageTransformerConfig Tiny = new()
    {
        Dim = 32, NLayers = 2, NRefinerLayers = 1, NHeads = 2, NKvHeads = 2, CapFeatDim = 16,
        AxesDims = [8, 4, 4], AxesLens = [256, 32, 32],
    };

    private sealed class RecordingHook : IBlockHook
    {
        public List<string> Calls { get; } = [];
        public void BeforeBlock(int index, nn.Module block) => Calls.Add($"before {index}");
        public void AfterBlock(int index, nn.Module block) => Calls.Add($"after {index}");
    }

    [Fact]
    public void BlockHookSurroundsEveryStreamableBlockInOrder()
    {
        manual_seed(0);
        using var model = new ZImageTransformer(Tiny);
        var hook = new RecordingHook();
        model.BlockHook = hook;
        using var latent = randn(16, 1, 4, 4);
        using var caption = randn(3, 16);
        using var t = tensor(new[] { 0.5f });
        var output = model.forward([latent], t, [caption]);
        output[0].Dispose();

        var expected = Enumerable.Range(0, model.StreamableBlocks.Count).SelectMany(i => new[] { $"before {i}", $"after {i}" });
        Assert.Equal(expected, hook.Calls);
        Assert.Equal(4, model.StreamableBlocks.Count); // 1 noise refiner + 1 context refiner + 2 layers
    }

    /// <summary>Every intermediate tensor of a forward (mixed batch: padding, masks) is released; only outputs remain.</summary>
    [Fact]
    public void ForwardLeavesNoLiveTensorsBehind()
    {
        manual_seed(0);
        using var model = new ZImageTransformer(Tiny);
        using var l0 = randn(16, 1, 6, 10);
        using var l1 = randn(16, 1, 4, 4);
        using var c0 = randn(5, 16);
        using var c1 = randn(40, 16);
        using var t = tensor(new[] { 0.1f, 0.9f });
        foreach (var o in model.forward([l0, l1], t, [c0, c1])) o.Dispose(); // builds the cached RoPE tables

        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var outputs = model.forward([l0, l1], t, [c0, c1]);
        Assert.Equal(before + outputs.Length, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        foreach (var o in outputs) o.Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void OutputHasTheLatentShapeInFloat32WhateverTheModelDType()
    {
        manual_seed(0);
        using var model = new ZImageTransformer(Tiny, dtype: ScalarType.BFloat16);
        using var latent = randn(16, 1, 6, 10);       // 15 tokens: padded to 32 with x_pad_token
        using var caption = randn(33, 16);            // padded to 64
        using var t = tensor(new[] { 0.25f });
        var output = model.forward([latent], t, [caption]);
        Assert.Equal([16L, 1, 6, 10], output[0].shape);
        Assert.Equal(ScalarType.Float32, output[0].dtype);                // the final layer is a float32 island
        Assert.False(output[0].isnan().any().item<bool>());
        output[0].Dispose();
    }

    [Fact]
    public void RejectsMalformedInputsWithClearMessages()
    {
        using var model = new ZImageTransformer(Tiny);
        using var t = tensor(new[] { 0f });
        using var oddLatent = zeros(16, 1, 5, 4);
        using var caption = zeros(3, 16);
        var error = Assert.Throws<ArgumentException>(() => model.forward([oddLatent], t, [caption]));
        Assert.Contains("multiples of 2", error.Message);

        using var latent = zeros(16, 1, 4, 4);
        using var wrongWidth = zeros(3, 8);
        error = Assert.Throws<ArgumentException>(() => model.forward([latent], t, [wrongWidth]));
        Assert.Contains("[L ≥ 1, 16]", error.Message);

        using var tooLong = zeros(300, 16); // caption ids reach 320 > axes_lens[0] = 256
        error = Assert.Throws<ArgumentException>(() => model.forward([latent], t, [tooLong]));
        Assert.Contains("axes_lens[0] = 256", error.Message);
    }
}
