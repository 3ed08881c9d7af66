using TorchSharp;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Scheduling;
using ZImageSharp.Engine.Tests.Transformer;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Edit;

/// <summary>What diffusers' img2img and inpaint semantics imply, checked on the tiny reference model with the inputs of
/// tests/data/edit: no fixture from diffusers needed.</summary>
public class ImageEditMathTests
{
    private const long Seed = 42;

    [SkippableFact]
    public void StrengthOneStartsFromThePureNoiseTextToImageWouldUse()
    {
        using var model = new TinyEditModel();
        using var scope = NewDisposeScope();
        var options = Options(model, 1f);
        Assert.Equal(0, options.FirstStep);
        var (mean, logVariance) = ImageEdit.Encode(model.Vae, TinyEditModel.ReadPng("init.png"), CPU);

        using var editNoise = new SeededNoise(Seed, 1);
        using var edit = EditStart.Prepare(model.Vae, mean, logVariance, editNoise, options, mask: null);
        // The same stream: draw 1 is the posterior's sample, draw 2 the initial noise.
        using var plainNoise = new SeededNoise(Seed, 1);
        plainNoise.Next(edit.Latents).Dispose();
        var noise = plainNoise.Next(edit.Latents);
        Assert.True(TensorAssert.Identical(edit.Latents, noise), "σ = 1: 1·ε + 0·x0 must be ε exactly");

        var denoiser = new Denoiser(model.Transformer);
        var fromEdit = denoiser.Run(edit.Latents, [model.Caption], options);
        var fromNoise = denoiser.Run(noise, [model.Caption], options with { FirstStep = 0 });
        Assert.True(TensorAssert.Identical(fromEdit, fromNoise));
    }

    [SkippableTheory]
    [InlineData(1.0f, 0)]
    [InlineData(0.75f, 1)]
    [InlineData(0.6f, 1)]   // int(4 − 2.4) = 1
    [InlineData(0.5f, 2)]
    [InlineData(0.3f, 2)]   // int(4 − 1.2) = 2
    [InlineData(0.25f, 3)]
    public void StrengthRunsTheLastStepsOfTheWholeSchedule(float strength, int firstStep)
    {
        using var model = new TinyEditModel();
        using var scope = NewDisposeScope();
        var options = Options(model, strength);
        Assert.Equal(firstStep, options.FirstStep);
        var schedule = SigmaSchedules.Sigmas(options.Scheduler, options.Steps, options.Shift);
        var (mean, logVariance) = ImageEdit.Encode(model.Vae, TinyEditModel.ReadPng("init.png"), CPU);
        using var seeded = new SeededNoise(Seed, 1);
        using var edit = EditStart.Prepare(model.Vae, mean, logVariance, seeded, options, mask: null);

        var steps = new List<int>();
        new Denoiser(model.Transformer).Run(edit.Latents, [model.Caption], options, onStep: (i, _) => steps.Add(i));
        Assert.Equal(Enumerable.Range(0, model.Steps - firstStep), steps);

        // The start is x0 noised to the σ of the first step run: recover x0 from it and compare with a fresh sample.
        using var again = new SeededNoise(Seed, 1);
        var x0 = ImageEdit.InitLatents(model.Vae, mean, logVariance, again);
        var noise = again.Next(x0);
        Assert.True(TensorAssert.Identical(edit.Latents, ImageEdit.Noised(x0, noise, schedule[firstStep])));
    }

    [SkippableFact]
    public void AllOnesMaskRepaintsEverythingAsPlainImageToImage()
    {
        using var model = new TinyEditModel();
        using var scope = NewDisposeScope();
        var init = TinyEditModel.ReadPng("init.png");
        var options = Options(model, 0.6f);
        var (plain, _) = Run(model, init, options, mask: null);
        var (masked, _) = Run(model, init, options, Filled(init, 255));
        Assert.True(TensorAssert.Identical(masked, plain));
    }

    [SkippableFact]
    public void AllZerosMaskEndsOnTheInitLatents()
    {
        using var model = new TinyEditModel();
        using var scope = NewDisposeScope();
        var init = TinyEditModel.ReadPng("init.png");
        var (final, x0) = Run(model, init, Options(model, 0.6f), Filled(init, 0));
        Assert.True(TensorAssert.Identical(final, x0));
    }

    [SkippableFact]
    public void MaskKeepsItsBlackPartAndRepaintsItsWhitePart()
    {
        using var model = new TinyEditModel();
        using var scope = NewDisposeScope();
        var init = TinyEditModel.ReadPng("init.png");
        var mask = TinyEditModel.ReadPng("mask.png");
        var (final, x0) = Run(model, init, Options(model, 0.6f), mask);
        var latentMask = ImageEdit.LatentMask(mask, final.shape[2], final.shape[3]);
        var keep = latentMask.eq(0).expand_as(final);
        var repaint = latentMask.eq(1).expand_as(final);
        Assert.True(TensorAssert.Identical(final.masked_select(keep), x0.masked_select(keep)));
        var changed = final.masked_select(repaint).sub(x0.masked_select(repaint)).abs().max().item<float>();
        Assert.True(changed > 1e-3f, $"the repainted region should move away from the init latents (max change {changed})");
    }

    [SkippableFact]
    public void LatentMaskPicksEveryFactorthPixel()
    {
        var mask = TinyEditModel.ReadPng("mask.png");
        var bits = mask.MaskBits();
        using var latent = ImageEdit.LatentMask(mask, mask.Height / 2, mask.Width / 2);
        var values = latent.data<float>().ToArray();
        int w = mask.Width / 2;
        for (int y = 0; y < mask.Height / 2; y++)
            for (int x = 0; x < w; x++)
                Assert.Equal(bits[2 * y * mask.Width + 2 * x] ? 1f : 0f, values[y * w + x]);
        Assert.Contains(1f, values);
        Assert.Contains(0f, values);
    }

    [Fact]
    public void PixelsAreMappedToMinusOneToOneAsTheImageProcessorDoes()
    {
        var image = new EditImage(2, 1, [0, 255, 128, 51, 0, 255]);
        using var pixels = ImageEdit.ToPixels(image);
        Assert.Equal(new long[] { 1, 3, 1, 2 }, pixels.shape);
        var v = pixels.data<float>().ToArray();   // CHW: R of both pixels, then G, then B
        Assert.Equal([-1f, 51f / 255f * 2f - 1f, 1f, -1f, 128f / 255f * 2f - 1f, 1f], v);
    }

    private static DenoiseOptions Options(TinyEditModel model, float strength) => new()
    {
        Steps = model.Steps,
        Shift = model.Shift,
        FirstStep = ImageEditSchedule.FirstStep(model.Steps, strength),
    };

    private static EditImage Filled(EditImage like, byte value) =>
        new(like.Width, like.Height, Enumerable.Repeat(value, like.Rgb.Length).ToArray());

    /// <returns>The final latents and the clean init latents x0, in the caller's dispose scope.</returns>
    private static (Tensor Final, Tensor InitLatents) Run(TinyEditModel model, EditImage init, DenoiseOptions options, EditImage? mask)
    {
        var (mean, logVariance) = ImageEdit.Encode(model.Vae, init, CPU);
        using var seeded = new SeededNoise(Seed, 1);
        using var edit = EditStart.Prepare(model.Vae, mean, logVariance, seeded, options, mask);
        var final = new Denoiser(model.Transformer).Run(edit.Latents, [model.Caption], options, blend: edit.Blend);
        using var again = new SeededNoise(Seed, 1);
        return (final, ImageEdit.InitLatents(model.Vae, mean, logVariance, again));
    }
}
