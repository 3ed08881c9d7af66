using System.Text.Json;
using TorchSharp;
using Xunit.Abstractions;
using ZImageSharp.Contracts;
using ZImageSharp.Engine.Pipeline;
using ZImageSharp.Engine.Tests.Transformer;
using ZImageSharp.Engine.Weights;
using static TorchSharp.torch;

namespace ZImageSharp.Engine.Tests.Edit;

/// <summary>diffusers' ZImageImg2ImgPipeline and ZImageInpaintPipeline on the tiny reference model
/// (tests/data/edit/edit_{img2img,inpaint}.*, written by scripts/gpu-edit-reference.py). Each part is checked on its
/// own: the encoder, the posterior sample from the seed, the initial noise, the noised start, every step, the image.</summary>
[Trait("Category", "Parity")]
public class EditParityTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("img2img")]
    [InlineData("inpaint")]
    public void StartLatentsMatchDiffusers(string kind)
    {
        using var model = new TinyEditModel();
        using var fixture = Fixture(kind, out var info);
        using var scope = NewDisposeScope();
        var init = TinyEditModel.ReadPng(info.GetProperty("init_image").GetString()!);
        var options = Options(model, info);
        Assert.Equal(info.GetProperty("first_step").GetInt32(), options.FirstStep);

        var (mean, logVariance) = ImageEdit.Encode(model.Vae, init, CPU);
        TensorAssert.Close(mean, fixture.Read("enc_mean"), "encoder mean", output);
        TensorAssert.Close(logVariance, fixture.Read("enc_logvar"), "encoder log-variance", output);

        using var seeded = new SeededNoise(info.GetProperty("seed").GetInt64(), 1);
        using var edit = EditStart.Prepare(model.Vae, mean, logVariance, seeded, options, Mask(info));
        using var again = new SeededNoise(info.GetProperty("seed").GetInt64(), 1);
        var x0 = ImageEdit.InitLatents(model.Vae, mean, logVariance, again);
        TensorAssert.Close(x0, fixture.Read("init_latents"), "init latents (posterior sample from the seed)", output);
        TensorAssert.Close(again.Next(x0), fixture.Read("noise"), "initial noise (the seed's second draw)", output);
        TensorAssert.Close(edit.Latents, fixture.Read("latents_in"), "noised start", output);
    }

    /// <summary>The loop from diffusers' own start, init latents and noise, so a step error is the loop's alone.</summary>
    [SkippableTheory]
    [InlineData("img2img")]
    [InlineData("inpaint")]
    public void EveryStepAndTheImageMatchDiffusers(string kind)
    {
        using var model = new TinyEditModel();
        using var fixture = Fixture(kind, out var info);
        using var scope = NewDisposeScope();
        var options = Options(model, info);
        var start = fixture.Read("latents_in");
        using var blend = Mask(info) is { } mask
            ? new InpaintBlend(ImageEdit.LatentMask(mask, start.shape[2], start.shape[3]), fixture.Read("init_latents"), fixture.Read("noise"))
            : null;
        int steps = 0;
        var final = new Denoiser(model.Transformer).Run(start, [model.Caption], options, onStep: (i, latents) =>
        {
            TensorAssert.Close(latents, fixture.Read($"latents_after_step.{i}"), $"latents after step {i}", output);
            steps++;
        }, blend: blend);
        Assert.Equal(info.GetProperty("steps_run").GetInt32(), steps);

        var image = ImageConversion(model, final);
        TensorAssert.Close(image, fixture.Read("image"), "image", output);
    }

    private static Tensor ImageConversion(TinyEditModel model, Tensor latents) =>
        model.Vae.Decode(model.Vae.FromDiffusionLatents(latents)).div(2).add(0.5).clamp(0, 1);

    private static DenoiseOptions Options(TinyEditModel model, JsonElement info) => new()
    {
        Steps = info.GetProperty("steps").GetInt32(),
        Shift = info.GetProperty("shift").GetDouble(),
        FirstStep = ImageEditSchedule.FirstStep(info.GetProperty("steps").GetInt32(), info.GetProperty("strength").GetSingle()),
    };

    private static EditImage? Mask(JsonElement info) =>
        info.GetProperty("mask_image").GetString() is { } name ? TinyEditModel.ReadPng(name) : null;

    private static SafetensorsFile Fixture(string kind, out JsonElement info)
    {
        string json = Path.Combine(TinyEditModel.EditDir, $"edit_{kind}.json");
        string tensors = Path.Combine(TinyEditModel.EditDir, $"edit_{kind}.safetensors");
        Skip.IfNot(File.Exists(json) && File.Exists(tensors),
            $"diffusers {kind} fixture absent: {json} / {tensors} are written by scripts/gpu-edit-reference.py on the GPU machine");
        info = JsonDocument.Parse(File.ReadAllText(json)).RootElement.Clone();
        return SafetensorsFile.Open(tensors);
    }
}
