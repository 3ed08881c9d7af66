using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Http;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Apis;

/// <summary>The part of AUTOMATIC1111's web UI API that image clients use: txt2img, progress (with a live preview),
/// interrupt and options. Fields A1111 knows but Z-Image has no use for (restore_faces, hires fix, …) are ignored.</summary>
internal static class Automatic1111Api
{
    /// <summary>A1111's img2img default denoising_strength.</summary>
    public const float A1111DefaultStrength = 0.75f;

    public static IEndpointRouteBuilder MapAutomatic1111Api(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/sdapi/v1").WithTags("A1111");
        api.MapPost("/txt2img", Txt2Img)
            .WithName("A1111Txt2Img")
            .Accepts<A1111Txt2ImgRequest>("application/json")
            .Produces<A1111Txt2ImgResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        api.MapPost("/img2img", Img2Img)
            .WithName("A1111Img2Img")
            .Accepts<A1111Img2ImgRequest>("application/json")
            .Produces<A1111Txt2ImgResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        api.MapGet("/progress", Progress).WithName("A1111Progress").Produces<A1111Progress>();
        api.MapPost("/interrupt", Interrupt).WithName("A1111Interrupt");
        api.MapGet("/options", GetOptions).WithName("A1111GetOptions");
        api.MapPost("/options", SetOptions).WithName("A1111SetOptions");
        api.MapGet("/sd-models", Models).WithName("A1111Models");
        api.MapGet("/samplers", Samplers).WithName("A1111Samplers");
        api.MapGet("/schedulers", Schedulers).WithName("A1111Schedulers");
        api.MapGet("/loras", (HttpContext http) => TypedResults.Ok(LoraSyntax.List(http).Loras
            .Select(name => new A1111Lora(name, name)).ToList())).WithName("A1111Loras");
        return app;
    }

    private static Task<Ok<A1111Txt2ImgResponse>> Txt2Img(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options) =>
        Run(http, jobs, options, body => ParseWithWarnings(body, jobs.Limits));

    private static Task<Ok<A1111Txt2ImgResponse>> Img2Img(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options) =>
        Run(http, jobs, options, body => ParseWithWarnings(body, jobs.Limits, img2img: true), options.Value.MaxEditBodyBytes);

    private static async Task<Ok<A1111Txt2ImgResponse>> Run(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options,
        Func<JsonElement, (GenerationRequest, IReadOnlyList<string>)> parse, int? maxBytes = null)
    {
        var aborted = http.HttpContext.RequestAborted;
        var body = await RequestBody.ReadObjectAsync(http, maxBytes ?? options.Value.MaxRequestBodyBytes, aborted);
        var (request, warnings) = parse(body);
        LoraSyntax.Check(http.HttpContext, request, field => field.StartsWith("loras", StringComparison.Ordinal) ? "prompt" : field);
        var (job, _) = await jobs.SubmitAsync(request, JobSource.Automatic1111, aborted);
        var final = await jobs.WaitAsync(job, aborted);
        if (final.State != JobState.Succeeded) throw new JobEndedException(final);

        var images = new List<string>();
        var infotexts = new List<string>();
        foreach (var image in final.Images)
        {
            byte[] png = await File.ReadAllBytesAsync(jobs.ImagePath(image), aborted);
            images.Add(Convert.ToBase64String(png));
            // The PNG's own text: what the engine wrote (LoRA hashes, preset, edit hashes included), as A1111 reads it back.
            infotexts.Add(PngReader.Read(png).GetText(ImageParameters.InfotextKeyword)
                ?? ImageFiles.Parameters(final.Request, new GeneratedImage([], image.Seed, image.Width, image.Height), jobs.Model.Name, final.Weights));
        }
        var r = final.Request;
        var seeds = final.Images.Select(i => i.Seed).ToArray();
        var info = new Dictionary<string, object?>
        {
            ["prompt"] = r.Prompt,
            ["negative_prompt"] = r.NegativePrompt,
            ["seed"] = r.Seed,
            ["all_seeds"] = seeds,
            ["width"] = r.Width,
            ["height"] = r.Height,
            ["steps"] = r.Steps,
            ["cfg_scale"] = 1 + r.GuidanceScale,
            ["sampler_name"] = SamplerNames.A1111Label(r.Sampler),
            ["scheduler"] = SchedulerNames.A1111Label(r.Scheduler),
            ["batch_size"] = r.Count,
            ["sd_model_name"] = jobs.Model.Name,
            ["job_id"] = final.Id,
            ["warnings"] = warnings,
            ["infotexts"] = infotexts,
        };
        var parameters = new Dictionary<string, object?>
        {
            ["prompt"] = r.Prompt,
            ["negative_prompt"] = r.NegativePrompt,
            ["width"] = r.Width,
            ["height"] = r.Height,
            ["steps"] = r.Steps,
            ["seed"] = r.Seed,
            ["batch_size"] = r.Count,
            ["n_iter"] = 1,
            ["cfg_scale"] = 1 + r.GuidanceScale,
            ["sampler_name"] = SamplerNames.A1111Label(r.Sampler),
            ["scheduler"] = SchedulerNames.A1111Label(r.Scheduler),
        };
        if (r.InitImage is not null) parameters["denoising_strength"] = r.Strength;
        return TypedResults.Ok(new A1111Txt2ImgResponse(images, parameters, JsonSerializer.Serialize(info)));
    }

    internal static GenerationRequest Parse(JsonElement body, RequestLimits limits) => ParseWithWarnings(body, limits).Request;

    /// <summary>A1111's txt2img body as a request, and what the answer's <c>info.warnings</c> says was not honoured.</summary>
    /// <param name="img2img">Also read img2img's init_images, denoising_strength (A1111's default 0.75) and mask.</param>
    internal static (GenerationRequest Request, IReadOnlyList<string> Warnings) ParseWithWarnings(JsonElement body, RequestLimits limits,
        bool img2img = false)
    {
        var rules = FieldRules.For(limits);
        var fields = new JsonFields(body, field => field == "scheduler"
            ? $"one of: {string.Join(", ", A1111Samplers.SchedulerLabels)} (or: {string.Join(", ", limits.Schedulers)})"
            : rules(field));
        var defaults = limits.Preset.NewRequest();
        var warnings = new List<string>();

        // A1111 draws a random seed for -1; any other negative seed is a mistake.
        long? seed = fields.Long("seed");
        if (seed == -1) seed = null;

        int batchSize = fields.Int("batch_size") ?? 1;
        int iterations = fields.Int("n_iter") ?? 1;
        if (batchSize < 1 && !fields.Failed.Contains("batch_size"))
            fields.Fail("batch_size", $"must be {rules("batch_size")} (got {batchSize}).");
        if (iterations < 1 && !fields.Failed.Contains("n_iter"))
            fields.Fail("n_iter", $"must be {rules("n_iter")} (got {iterations}).");

        float guidance = CfgScaleToGuidance(fields, limits, warnings);
        var (sampler, scheduler) = SamplerAndScheduler(fields, limits, defaults);

        EditImage? init = null, mask = null;
        float strength = defaults.Strength;
        if (img2img)
        {
            init = EditFields.FirstImage(body, fields, "init_images");
            if (init is null && !fields.Failed.Contains("init_images"))
                fields.Fail("init_images", "is required: img2img starts from one base64-encoded PNG.");
            strength = fields.Float("denoising_strength") ?? A1111DefaultStrength;
            mask = EditFields.Image(fields, "mask");
            if (mask is not null && fields.Int("inpainting_mask_invert") is 1)
                mask = new EditImage(mask.Width, mask.Height, mask.Rgb.Select(b => (byte)(255 - b)).ToArray());
        }

        long count = (long)Math.Max(batchSize, 1) * Math.Max(iterations, 1);
        var request = new GenerationRequest
        {
            Prompt = fields.String("prompt") ?? "",
            NegativePrompt = fields.String("negative_prompt") ?? defaults.NegativePrompt,
            Width = fields.Int("width") ?? init?.Width ?? defaults.Width,
            Height = fields.Int("height") ?? init?.Height ?? defaults.Height,
            InitImage = init,
            Strength = strength,
            Mask = mask,
            Steps = fields.Int("steps") ?? defaults.Steps,
            Seed = seed,
            Count = (int)Math.Min(count, int.MaxValue),
            GuidanceScale = guidance,
            CfgNormalization = defaults.CfgNormalization,
            CfgTruncation = defaults.CfgTruncation,
            Shift = defaults.Shift,
            Sampler = sampler,
            Scheduler = scheduler,
        };
        request = LoraSyntax.FromPrompt(request, fields); // <lora:name:0.8>, as A1111's extra networks
        fields.ThrowIfInvalid(GenerationRequestValidator.Check(request, limits), field => field switch
        {
            _ when field.StartsWith("loras", StringComparison.Ordinal) => "prompt",
            "count" => "batch_size",
            "guidance_scale" => "cfg_scale",
            "init_image" => "init_images",
            "strength" => "denoising_strength",
            "sampler" => fields.Has("sampler_name") ? "sampler_name" : "sampler_index",
            _ => field,
        });
        return (request, warnings);
    }

    /// <summary>
    /// A1111's classic CFG scale c is Z-Image's guidance g = c − 1 (spec §1.5: pos + g·(pos − neg) is classic CFG at
    /// 1 + g), so c ≤ 1 is guidance off. A guidance-distilled model (Turbo) ignores it, with a warning when it would
    /// have turned CFG on: A1111 clients send their default 7 unasked, and honouring it would run a negative branch
    /// (twice the transformer work) and over-saturate the image. The native API's guidance_scale still turns CFG on.
    /// Without cfg_scale the preset's guidance applies (base: 4, A1111's 5).
    /// </summary>
    private static float CfgScaleToGuidance(JsonFields fields, RequestLimits limits, List<string> warnings)
    {
        const float MaxCfgScale = 31f;
        if (fields.Float("cfg_scale") is not { } cfg) return limits.Preset.GuidanceScale;
        if (!float.IsFinite(cfg) || cfg < 0 || cfg > MaxCfgScale)
        {
            fields.Fail("cfg_scale", $"must be {FieldRules.For(limits)("cfg_scale")} (got {cfg.ToString(System.Globalization.CultureInfo.InvariantCulture)}).");
            return 0f;
        }
        if (cfg <= 1) return 0f;
        if (limits.GuidanceDistilled)
        {
            warnings.Add($"cfg_scale {cfg.ToString(System.Globalization.CultureInfo.InvariantCulture)} was ignored: this model has " +
                "classifier-free guidance distilled in, so it runs without CFG (CFG scale 1). The native API's guidance_scale turns CFG on.");
            return 0f;
        }
        return cfg - 1;
    }

    /// <summary>sampler_name (or the older sampler_index) and scheduler. A name that folds in a schedule ("DPM++ 2M
    /// Karras") sets it unless scheduler names another one; "Automatic" or no scheduler is simple.</summary>
    private static (string Sampler, string Scheduler) SamplerAndScheduler(JsonFields fields, RequestLimits limits, GenerationRequest defaults)
    {
        string samplerField = fields.Has("sampler_name") ? "sampler_name" : "sampler_index";
        string sampler = defaults.Sampler;
        string? implied = null;
        if (fields.String(samplerField) is { } name)
        {
            if (A1111Samplers.Sampler(name) is { } known)
                (sampler, implied) = known;
            else
                fields.Fail(samplerField, $"must be {FieldRules.For(limits)(samplerField)} (got '{(name.Length > 40 ? name[..40] + "…" : name)}').");
        }

        string? chosen = null;
        if (fields.String("scheduler") is { } label && !A1111Samplers.TryScheduler(label, out chosen))
            fields.Fail("scheduler", $"must be one of: {string.Join(", ", A1111Samplers.SchedulerLabels)} (or: " +
                $"{string.Join(", ", limits.Schedulers)}) (got '{(label.Length > 40 ? label[..40] + "…" : label)}').");
        return (sampler, chosen ?? implied ?? defaults.Scheduler);
    }

    private static Ok<A1111Progress> Progress(JobService jobs, [FromQuery(Name = "skip_current_image")] bool? skipCurrentImage)
    {
        // A1111 has one "current job"; with several GPUs the one started last stands for it.
        var running = jobs.Running.LastOrDefault();
        int jobCount = jobs.QueueDepth + jobs.Running.Count;
        if (running is null)
            return TypedResults.Ok(new A1111Progress(0, 0, new A1111State(false, false, "", jobCount, "", 0, 0, 0), null, null));

        var job = running.Record;
        var progress = running.Progress;
        double fraction = progress?.Fraction ?? 0;
        double etaSeconds = progress?.Eta?.TotalSeconds ?? 0;
        string? image = skipCurrentImage == true || progress?.PreviewPng is not { } png ? null : Convert.ToBase64String(png);
        var state = new A1111State(false, running.UserCancel.IsCancellationRequested, job.Id, jobCount,
            job.StartedAt?.ToString("yyyyMMddHHmmss") ?? "", 0,
            progress?.Phase == GenerationPhase.Denoise ? progress.Step : 0, job.Request.Steps);
        string text = progress is null ? "Starting" : $"{progress.Phase} {progress.Step}/{progress.TotalSteps}";
        return TypedResults.Ok(new A1111Progress(Math.Round(fraction, 4), Math.Round(etaSeconds, 2), state, image, text));
    }

    private static Ok<Dictionary<string, int>> Interrupt(JobService jobs) =>
        TypedResults.Ok(new Dictionary<string, int> { ["interrupted"] = jobs.Interrupt(JobSource.Automatic1111) });

    private static Ok<Dictionary<string, object?>> GetOptions(JobService jobs) => TypedResults.Ok(new Dictionary<string, object?>
    {
        ["sd_model_checkpoint"] = jobs.Model.Name,
        ["sd_checkpoint_hash"] = null,
        ["samples_format"] = "png",
        ["CLIP_stop_at_last_layers"] = 1,
        ["eta_noise_seed_delta"] = 0,
        ["live_previews_enable"] = true,
        ["show_progress_every_n_steps"] = 1,
    });

    /// <summary>Accepts any options object (clients send the checkpoint they want) and changes nothing: this server
    /// runs one model. Malformed bodies are still refused.</summary>
    private static async Task<IResult> SetOptions(HttpRequest http, IOptions<ZImageServerOptions> options)
    {
        await RequestBody.ReadObjectAsync(http, options.Value.MaxRequestBodyBytes, http.HttpContext.RequestAborted);
        return TypedResults.Content("null", "application/json");
    }

    private static Ok<object[]> Models(JobService jobs) => TypedResults.Ok<object[]>(
    [
        new Dictionary<string, object?>
        {
            ["title"] = jobs.Model.Name,
            ["model_name"] = jobs.Model.Name,
            ["hash"] = null,
            ["sha256"] = null,
            ["filename"] = jobs.Model.Name,
            ["config"] = null,
        },
    ]);

    private static Ok<object[]> Samplers() => TypedResults.Ok(A1111Samplers.SamplerList());

    private static Ok<object[]> Schedulers() => TypedResults.Ok(A1111Samplers.SchedulerList());
}

internal sealed record A1111Txt2ImgRequest(
    string Prompt,
    string? NegativePrompt,
    int? Width,
    int? Height,
    int? Steps,
    long? Seed,
    int? BatchSize,
    int? NIter,
    float? CfgScale,
    string? SamplerName,
    string? Scheduler);

/// <summary>img2img's body: txt2img's fields (<see cref="A1111Txt2ImgRequest"/>) and these.</summary>
internal sealed record A1111Img2ImgRequest(
    IReadOnlyList<string> InitImages,
    float? DenoisingStrength,
    string? Mask,
    int? InpaintingMaskInvert,
    string? Prompt,
    int? Width,
    int? Height,
    int? Steps,
    long? Seed);

internal sealed record A1111Txt2ImgResponse(IReadOnlyList<string> Images, IReadOnlyDictionary<string, object?> Parameters, string Info);

internal sealed record A1111State(
    bool Skipped,
    bool Interrupted,
    string Job,
    int JobCount,
    string JobTimestamp,
    int JobNo,
    int SamplingStep,
    int SamplingSteps);

internal sealed record A1111Progress(double Progress, double EtaRelative, A1111State State, string? CurrentImage, string? Textinfo);

internal sealed record A1111Lora(string Name, string Alias);
