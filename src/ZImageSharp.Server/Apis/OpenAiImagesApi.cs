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
        return app;
    }

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
        fields.ThrowIfInvalid(GenerationRequestValidator.Check(request, limits), Rename);
        return (request, format);
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
