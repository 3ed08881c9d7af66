using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Http;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Apis;

/// <summary>OpenAI's <c>POST /v1/images/generations</c> and <c>/v1/images/edits</c>: synchronous like the original, or
/// server-sent events with <c>stream: true</c> (<see cref="OpenAiImageStream"/>). Fields OpenAI clients send that mean
/// nothing here (model, style, user, …) are ignored; <c>negative_prompt</c>, <c>steps</c>, <c>seed</c> and
/// <c>guidance_scale</c> are accepted as extensions.</summary>
internal static class OpenAiImagesApi
{
    public static IEndpointRouteBuilder MapOpenAiImagesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/images/generations", Generate)
            .WithTags("OpenAI")
            .WithName("OpenAiImagesGenerations")
            .WithSummary("OpenAI-compatible image generation (b64_json or url); stream: true answers server-sent events.")
            .Accepts<OpenAiImageRequest>("application/json")
            .Produces<OpenAiImageResponse>()
            .AddOpenApiOperationTransformer(DescribeEventStream)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        app.MapPost("/v1/images/edits", Edit)
            .WithTags("OpenAI")
            .WithName("OpenAiImagesEdits")
            .WithSummary("OpenAI-compatible image edit: multipart image, optional mask (alpha 0 = repaint), prompt.")
            .Accepts<OpenAiEditForm>("multipart/form-data")
            .Produces<OpenAiImageResponse>()
            .AddOpenApiOperationTransformer(DescribeEventStream)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .DisableAntiforgery();
        app.MapGet("/v1/models", Models).WithTags("OpenAI").WithName("OpenAiModels")
            .WithSummary("The one model this server runs, as OpenAI lists models.");
        app.MapGet("/v1/models/{id}", Model).WithTags("OpenAI").WithName("OpenAiModel");
        return app;
    }

    /// <summary>The 200 of stream: true, beside the JSON one: endpoint metadata keeps one answer per status.</summary>
    private static Task DescribeEventStream(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.Responses?.TryGetValue("200", out var ok) == true && ok.Content is { } content)
            content["text/event-stream"] = new OpenApiMediaType
            {
                Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.String,
                    Description = "With stream: true, server-sent events: image_generation.partial_image / image_edit.partial_image " +
                        "(0 to partial_images), then one image_generation.completed / image_edit.completed per image, or an error event " +
                        "with OpenAI's error object (docs/api.md).",
                },
            };
        return Task.CompletedTask;
    }

    private static Ok<OpenAiModelList> Models(JobService jobs) => TypedResults.Ok(new OpenAiModelList("list", [ModelEntry(jobs)]));

    /// <summary>The model by its id; any other id is OpenAI's 404 (model_not_found), not an empty answer.</summary>
    private static Ok<OpenAiModel> Model(string id, JobService jobs) =>
        id == jobs.Model.Name
            ? TypedResults.Ok(ModelEntry(jobs))
            : throw new JobNotFoundException(id, $"The model '{(id.Length > 100 ? id[..100] + "…" : id)}' does not exist; this server runs '{jobs.Model.Name}' (GET /v1/models).");

    private static OpenAiModel ModelEntry(JobService jobs) => new(jobs.Model.Name, "model", 0, "zimagesharp");

    private static async Task<IResult> Generate(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options, TimeProvider time)
    {
        var aborted = http.HttpContext.RequestAborted;
        var body = await RequestBody.ReadObjectAsync(http, options.Value.MaxRequestBodyBytes, aborted);
        var (request, output) = Parse(body, jobs.Limits);
        return await Answer(http, jobs, time, request, output, "image_generation");
    }

    /// <summary>The form fields OpenAI's SDKs send as text that this API reads as numbers.</summary>
    private static readonly HashSet<string> NumericFormFields = ["n", "steps", "seed", "guidance_scale", "strength", "partial_images"];

    private static async Task<IResult> Edit(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options, TimeProvider time)
    {
        var aborted = http.HttpContext.RequestAborted;
        int max = options.Value.MaxEditBodyBytes;
        static ZImageSharp.Errors.InvalidRequestException Invalid(string message) => new([new ZImageSharp.Errors.FieldError("body", message)]);
        if (!http.HasFormContentType)
            throw Invalid("must be multipart/form-data with the fields image, prompt and optionally mask (OpenAI's images/edits).");
        if (http.ContentLength > max) throw Invalid($"must be at most {max} bytes (got {http.ContentLength}).");
        IFormCollection form;
        try
        {
            form = await http.ReadFormAsync(new Microsoft.AspNetCore.Http.Features.FormOptions
            {
                MultipartBodyLengthLimit = max,
                ValueLengthLimit = max,
            }, aborted);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or BadHttpRequestException)
        {
            throw Invalid($"must be a well-formed multipart/form-data body of at most {max} bytes: {e.Message}");
        }

        var text = new System.Text.Json.Nodes.JsonObject();
        foreach (var (key, values) in form)
        {
            string value = values.ToString();
            // The SDKs send booleans as the text true/false.
            if (key == "stream" && bool.TryParse(value, out bool flag))
            {
                text[key] = flag;
                continue;
            }
            text[key] = NumericFormFields.Contains(key) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                ? (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var integer)
                    ? System.Text.Json.Nodes.JsonValue.Create(integer)
                    : System.Text.Json.Nodes.JsonValue.Create(number))
                : System.Text.Json.Nodes.JsonValue.Create(value);
        }
        var images = form.Files.Where(f => f.Name is "image" or "image[]").ToList();
        var mask = form.Files.FirstOrDefault(f => f.Name == "mask");
        var edit = new EditInput(
            images.Count == 1 ? await ReadAllAsync(images[0], aborted) : null,
            images.Count,
            mask is null ? null : await ReadAllAsync(mask, aborted));
        var (request, output) = Parse(JsonSerializer.SerializeToElement(text), jobs.Limits, edit);
        return await Answer(http, jobs, time, request, output, "image_edit");
    }

    private static async Task<byte[]> ReadAllAsync(IFormFile file, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await file.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    /// <summary>The files of an images/edits form: the image (how many were sent) and the mask.</summary>
    internal sealed record EditInput(byte[]? Image, int ImageCount, byte[]? Mask);

    /// <param name="eventPrefix">The stream events' type prefix: image_generation or image_edit.</param>
    private static async Task<IResult> Answer(HttpRequest http, JobService jobs, TimeProvider time,
        GenerationRequest request, OpenAiOutput output, string eventPrefix)
    {
        var aborted = http.HttpContext.RequestAborted;
        // Refusals (queue full, no plan fits) come before the stream starts: they are ordinary error answers.
        var (job, _) = await jobs.SubmitAsync(request, JobSource.OpenAi, aborted);
        if (output.Stream) return new OpenAiImageStream(job, eventPrefix, output, jobs, time);
        var final = await jobs.WaitAsync(job, aborted);
        if (final.State != JobState.Succeeded) throw new JobEndedException(final);

        string origin = $"{http.Scheme}://{http.Host}{http.PathBase}";
        var data = new List<OpenAiImage>();
        foreach (var image in final.Images)
        {
            data.Add(output.Format == "url"
                ? new OpenAiImage(null, $"{origin}/api/jobs/{final.Id}/images/{image.Index}", null)
                : new OpenAiImage(Convert.ToBase64String(await File.ReadAllBytesAsync(jobs.ImagePath(image), aborted)), null, null));
        }
        return TypedResults.Ok(new OpenAiImageResponse(time.GetUtcNow().ToUnixTimeSeconds(), data));
    }

    /// <param name="edit">images/edits' files; null for images/generations.</param>
    internal static (GenerationRequest Request, OpenAiOutput Output) Parse(JsonElement body, RequestLimits limits, EditInput? edit = null)
    {
        var rules = Rules(limits);
        var fields = new JsonFields(body, rules);
        // The model's preset: Turbo's 8 steps without guidance, or Base's steps, guidance and negative prompt.
        var defaults = limits.Preset.NewRequest();
        EditImage? init = null, mask = null;
        if (edit is not null)
        {
            if (edit.ImageCount == 0) fields.Fail("image", "is required: images/edits edits one PNG sent as the form file \"image\".");
            else if (edit.ImageCount > 1) fields.Fail("image", $"must be one PNG: this server edits one image a request (got {edit.ImageCount}).");
            else init = EditFields.FromPng(fields, "image", edit.Image!);
            if (edit.Mask is { } maskPng)
            {
                try { mask = EditImage.MaskFromPng(maskPng, "mask"); }
                catch (ArgumentException e) { fields.Fail("mask", $"must be a PNG (8-bit RGB or RGBA): {e.Message["mask: ".Length..]}"); }
            }
        }
        int width = init?.Width ?? defaults.Width, height = init?.Height ?? defaults.Height;
        if (fields.String("size") is { } size && size != "auto")
        {
            var parts = size.Split('x', 'X');
            if (parts.Length != 2
                || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out width)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out height))
                fields.Fail("size", $"must be {FieldRules.For(limits)("size")} (got \"{(size.Length > 40 ? size[..40] + "…" : size)}\").");
        }
        bool stream = fields.Bool("stream") ?? false;
        // Read (and checked) without stream too, where OpenAI ignores it.
        int partialImages = fields.Int("partial_images") ?? 0;
        if (partialImages is < 0 or > OpenAiOutput.MaxPartialImages && !fields.Failed.Contains("partial_images"))
            fields.Fail("partial_images", $"must be {rules("partial_images")} (got {partialImages}).");
        string format = fields.String("response_format") ?? "b64_json";
        if (format is not ("b64_json" or "url") && !fields.Failed.Contains("response_format"))
            fields.Fail("response_format", $"must be {rules("response_format")} (got \"{(format.Length > 40 ? format[..40] : format)}\").");
        else if (stream && format == "url")
            fields.Fail("response_format", "must be \"b64_json\" (or left out) with stream: true: stream events carry each image as b64_json.");
        // Not a field this server honours, only echoed in stream events: any other value is ignored, not refused.
        string quality = body.TryGetProperty("quality", out var q) && q.ValueKind == JsonValueKind.String
            && q.GetString() is "low" or "medium" or "high" or "auto" ? q.GetString()! : "auto";

        var request = defaults with
        {
            Prompt = fields.String("prompt")!,
            NegativePrompt = fields.String("negative_prompt") ?? defaults.NegativePrompt,
            Width = width,
            Height = height,
            Count = fields.Int("n") ?? 1,
            Steps = fields.Int("steps") ?? defaults.Steps,
            Seed = fields.Long("seed"),
            GuidanceScale = fields.Float("guidance_scale") ?? defaults.GuidanceScale,
            InitImage = init,
            Mask = mask,
            // OpenAI has no strength: a masked edit repaints its region from scratch, an unmasked one keeps the layout.
            Strength = fields.Float("strength") ?? (mask is null ? defaults.Strength : 1f),
        };
        if (request.Prompt is null && fields.Failed.Contains("prompt")) request = request with { Prompt = "" };
        fields.ThrowIfInvalid(SizeAsOneError(GenerationRequestValidator.Check(request, limits), fields, limits), Rename);
        return (request, new OpenAiOutput(format, stream, partialImages, quality));
    }

    /// <summary>The shared field rules, plus this API's own fields.</summary>
    private static Func<string, string> Rules(RequestLimits limits)
    {
        var shared = FieldRules.For(limits);
        return field => field switch
        {
            "stream" => "true or false",
            "partial_images" => $"an integer between 0 and {OpenAiOutput.MaxPartialImages} (step previews streamed before the final images with stream: true)",
            _ => shared(field),
        };
    }

    /// <summary>Width and height both come from "size": one message for the size as the client wrote it, not the
    /// same sentence once per side.</summary>
    private static IEnumerable<ZImageSharp.Errors.FieldError> SizeAsOneError(IReadOnlyList<ZImageSharp.Errors.FieldError> errors,
        JsonFields fields, RequestLimits limits)
    {
        bool sizeWrong = false;
        foreach (var error in errors)
        {
            if (error.Field is "width" or "height") sizeWrong = true;
            else yield return error;
        }
        if (sizeWrong)
        {
            string size = fields.String("size") ?? "";
            yield return new("size", $"must be {FieldRules.For(limits)("size")} (got \"{(size.Length > 40 ? size[..40] + "…" : size)}\").");
        }
    }

    private static string Rename(string field) => field switch
    {
        "width" or "height" => "size",
        "count" => "n",
        "init_image" => "image",
        _ => field,
    };
}

internal sealed record OpenAiImageRequest(
    string Prompt,
    int? N,
    string? Size,
    string? ResponseFormat,
    string? Model,
    string? NegativePrompt,
    int? Steps,
    long? Seed,
    float? GuidanceScale,
    bool? Stream,
    int? PartialImages);

/// <summary>images/edits' form, for the OpenAPI document (the handler reads the form itself).</summary>
internal sealed record OpenAiEditForm(
    IFormFile Image,
    IFormFile? Mask,
    string Prompt,
    int? N,
    string? Size,
    string? ResponseFormat,
    float? Strength,
    bool? Stream,
    int? PartialImages);

internal sealed record OpenAiImage(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? B64Json,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Url,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RevisedPrompt);

internal sealed record OpenAiImageResponse(long Created, IReadOnlyList<OpenAiImage> Data);

internal sealed record OpenAiModel(string Id, string Object, long Created, string OwnedBy);

internal sealed record OpenAiModelList(string Object, IReadOnlyList<OpenAiModel> Data);
