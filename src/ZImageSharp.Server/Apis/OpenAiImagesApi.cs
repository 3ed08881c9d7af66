using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using ZImageSharp.Contracts;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Http;
using ZImageSharp.Server.Jobs;

namespace ZImageSharp.Server.Apis;

/// <summary>OpenAI's <c>POST /v1/images/generations</c>, synchronous like the original. Fields OpenAI clients send
/// that mean nothing here (model, quality, style, user, …) are ignored; <c>negative_prompt</c>, <c>steps</c>,
/// <c>seed</c> and <c>guidance_scale</c> are accepted as extensions.</summary>
internal static class OpenAiImagesApi
{
    public static IEndpointRouteBuilder MapOpenAiImagesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/images/generations", Generate)
            .WithTags("OpenAI")
            .WithName("OpenAiImagesGenerations")
            .WithSummary("OpenAI-compatible image generation (b64_json or url).")
            .Accepts<OpenAiImageRequest>("application/json")
            .Produces<OpenAiImageResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        app.MapGet("/v1/models", Models).WithTags("OpenAI").WithName("OpenAiModels")
            .WithSummary("The one model this server runs, as OpenAI lists models.");
        app.MapGet("/v1/models/{id}", Model).WithTags("OpenAI").WithName("OpenAiModel");
        return app;
    }

    private static Ok<OpenAiModelList> Models(JobService jobs) => TypedResults.Ok(new OpenAiModelList("list", [ModelEntry(jobs)]));

    /// <summary>The model by its id; any other id is OpenAI's 404 (model_not_found), not an empty answer.</summary>
    private static Ok<OpenAiModel> Model(string id, JobService jobs) =>
        id == jobs.Model.Name
            ? TypedResults.Ok(ModelEntry(jobs))
            : throw new JobNotFoundException(id, $"The model '{(id.Length > 100 ? id[..100] + "…" : id)}' does not exist; this server runs '{jobs.Model.Name}' (GET /v1/models).");

    private static OpenAiModel ModelEntry(JobService jobs) => new(jobs.Model.Name, "model", 0, "zimagesharp");

    private static async Task<Ok<OpenAiImageResponse>> Generate(HttpRequest http, JobService jobs, IOptions<ZImageServerOptions> options, TimeProvider time)
    {
        var aborted = http.HttpContext.RequestAborted;
        var body = await RequestBody.ReadObjectAsync(http, options.Value.MaxRequestBodyBytes, aborted);
        var (request, format) = Parse(body, jobs.Limits);
        var (job, _) = await jobs.SubmitAsync(request, JobSource.OpenAi, aborted);
        var final = await jobs.WaitAsync(job, aborted);
        if (final.State != JobState.Succeeded) throw new JobEndedException(final);

        string origin = $"{http.Scheme}://{http.Host}{http.PathBase}";
        var data = new List<OpenAiImage>();
        foreach (var image in final.Images)
        {
            data.Add(format == "url"
                ? new OpenAiImage(null, $"{origin}/api/jobs/{final.Id}/images/{image.Index}", null)
                : new OpenAiImage(Convert.ToBase64String(await File.ReadAllBytesAsync(jobs.ImagePath(image), aborted)), null, null));
        }
        return TypedResults.Ok(new OpenAiImageResponse(time.GetUtcNow().ToUnixTimeSeconds(), data));
    }

    internal static (GenerationRequest Request, string Format) Parse(JsonElement body, RequestLimits limits)
    {
        var fields = new JsonFields(body, FieldRules.For(limits));
        var defaults = new GenerationRequest { Prompt = "" };
        int width = defaults.Width, height = defaults.Height;
        if (fields.String("size") is { } size && size != "auto")
        {
            var parts = size.Split('x', 'X');
            if (parts.Length != 2
                || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out width)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out height))
                fields.Fail("size", $"must be {FieldRules.For(limits)("size")} (got \"{(size.Length > 40 ? size[..40] + "…" : size)}\").");
        }
        // Partial images would need the engine's previews decoded by the VAE at every step; refusing is clearer than
        // an SSE client waiting on a stream that is not one.
        if (fields.Bool("stream") == true)
            fields.Fail("stream", "is not supported: this server answers with the finished images only (no partial images); " +
                "leave stream out or false, and watch progress with the native API's GET /api/jobs/{id}/events.");
        string format = fields.String("response_format") ?? "b64_json";
        if (format is not ("b64_json" or "url") && !fields.Failed.Contains("response_format"))
            fields.Fail("response_format", $"must be {FieldRules.For(limits)("response_format")} (got \"{(format.Length > 40 ? format[..40] : format)}\").");

        var request = new GenerationRequest
        {
            Prompt = fields.String("prompt")!,
            NegativePrompt = fields.String("negative_prompt") ?? "",
            Width = width,
            Height = height,
            Count = fields.Int("n") ?? 1,
            Steps = fields.Int("steps") ?? defaults.Steps,
            Seed = fields.Long("seed"),
            GuidanceScale = fields.Float("guidance_scale") ?? defaults.GuidanceScale,
        };
        if (request.Prompt is null && fields.Failed.Contains("prompt")) request = request with { Prompt = "" };
        fields.ThrowIfInvalid(SizeAsOneError(GenerationRequestValidator.Check(request, limits), fields, limits), Rename);
        return (request, format);
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
    float? GuidanceScale);

internal sealed record OpenAiImage(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? B64Json,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Url,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RevisedPrompt);

internal sealed record OpenAiImageResponse(long Created, IReadOnlyList<OpenAiImage> Data);

internal sealed record OpenAiModel(string Id, string Object, long Created, string OwnedBy);

internal sealed record OpenAiModelList(string Object, IReadOnlyList<OpenAiModel> Data);
