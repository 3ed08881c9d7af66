using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Apis;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>OpenAI's <c>stream: true</c> on images/generations and images/edits: server-sent events with the partial
/// images (the engine's step previews) and one completed event per image, in the shapes of the OpenAI SDKs' types
/// (ImageGenPartialImageEvent, ImageGenCompletedEvent, ImageEdit…); errors before the stream are 400s naming the
/// field, errors after it an <c>error</c> event with OpenAI's error object.</summary>
public sealed class OpenAiStreamTests : ServerApiTests
{

    [Theory]
    [InlineData(2, 8, new[] { 4, 8 })]
    [InlineData(3, 8, new[] { 3, 6, 8 })]
    [InlineData(1, 8, new[] { 8 })]
    [InlineData(3, 9, new[] { 3, 6, 9 })]
    [InlineData(2, 5, new[] { 3, 5 })]
    [InlineData(3, 2, new[] { 1, 2 })]
    [InlineData(3, 1, new[] { 1 })]
    [InlineData(0, 8, new int[0])]
    [InlineData(2, 0, new int[0])]
    public void Partial_images_are_spread_over_the_steps_the_last_at_the_final_step(int partialImages, int steps, int[] expected) =>
        Assert.Equal(expected, OpenAiImageStream.PartialSteps(partialImages, steps));

    [Fact]
    public async Task Generations_stream_partial_images_from_the_previews_then_the_completed_image()
    {
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var response = await PostAsync("/v1/images/generations", Requests.Json(new
        {
            prompt = "a streamed lighthouse", size = "256x128", stream = true, partial_images = 2, quality = "high", steps = 8, seed = 7,
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
        var events = await ReadEventsAsync(response);

        Assert.Equal(["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"], events.Select(e => e.Name));
        Assert.All(events, e => Assert.Equal(e.Name, (string)e.Data["type"]!));
        Assert.All(events, e => Assert.InRange((long)e.Data["created_at"]!, before, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        Assert.All(events, e => Assert.Equal("256x128", (string)e.Data["size"]!));
        Assert.All(events, e => Assert.Equal("high", (string)e.Data["quality"]!));
        Assert.All(events, e => Assert.Equal("opaque", (string)e.Data["background"]!));
        Assert.All(events, e => Assert.Equal("png", (string)e.Data["output_format"]!));

        // The fake engine's preview of step s has red 255·s/steps: partials come from steps 4 and 8 of 8.
        Assert.Equal([0, 1], events.Take(2).Select(e => (int)e.Data["partial_image_index"]!));
        var previews = events.Take(2).Select(e => PngReader.Read(Convert.FromBase64String((string)e.Data["b64_json"]!), decodePixels: true)).ToList();
        Assert.All(previews, p => Assert.Equal((16, 16), (p.Width, p.Height)));
        Assert.Equal([255 * 4 / 8, 255], previews.Select(p => (int)p.Pixels![0]));

        var completed = events[2].Data;
        Assert.Null(completed["partial_image_index"]);
        var png = PngReader.Read(Convert.FromBase64String((string)completed["b64_json"]!));
        Assert.Contains("Steps: 8, Sampler: Euler, CFG scale: 1, Seed: 7, Size: 256x128", png.GetText("parameters"));
        var usage = completed["usage"]!;
        Assert.Equal(0, (int)usage["input_tokens"]!);
        Assert.Equal(0, (int)usage["output_tokens"]!);
        Assert.Equal(0, (int)usage["total_tokens"]!);
        Assert.Equal(0, (int)usage["input_tokens_details"]!["text_tokens"]!);
        Assert.Equal(0, (int)usage["input_tokens_details"]!["image_tokens"]!);

        // It is an ordinary OpenAI job in the history.
        var history = await Client.GetFromJsonAsync<JsonNode>("/api/jobs");
        Assert.Equal("openai", (string)history!["jobs"]![0]!["source"]!);
        Assert.Equal("succeeded", (string)history["jobs"]![0]!["state"]!);
    }

    /// <summary>The batch denoises together and the engine previews its first image: the partials are that image's,
    /// then one completed event per image, in order (the SDKs' events carry no image index).</summary>
    [Fact]
    public async Task Several_images_stream_the_first_ones_partials_then_each_completed_image_in_order()
    {
        using var response = await PostAsync("/v1/images/generations", Requests.Json(new
        {
            prompt = "two lighthouses", n = 3, size = "128x128", stream = true, partial_images = 1, steps = 2, seed = 40,
        }));
        var events = await ReadEventsAsync(response);
        Assert.Equal(["image_generation.partial_image", "image_generation.completed", "image_generation.completed", "image_generation.completed"],
            events.Select(e => e.Name));
        Assert.Equal([40, 41, 42], events.Skip(1).Select(e => SeedOf((string)e.Data["b64_json"]!)));
        Assert.Equal("auto", (string)events[0].Data["quality"]!);
    }

    [Fact]
    public async Task Stream_without_partial_images_is_the_completed_events_alone()
    {
        using var response = await PostAsync("/v1/images/generations", Requests.Json(new { prompt = "no partials", stream = true, n = 2, steps = 3, seed = 1 }));
        var events = await ReadEventsAsync(response);
        Assert.Equal(["image_generation.completed", "image_generation.completed"], events.Select(e => e.Name));
        Assert.All(events, e => Assert.Equal("1024x1024", (string)e.Data["size"]!));
        Assert.Equal([1, 2], events.Select(e => SeedOf((string)e.Data["b64_json"]!)));
    }

    [Fact]
    public async Task Edits_stream_image_edit_events_from_a_multipart_form()
    {
        var init = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "data", "edit", "init64.png"));
        using var response = await PostAsync("/v1/images/edits", Requests.Form(("image", init), ("prompt", "the same, streamed"),
            ("stream", "true"), ("partial_images", "2"), ("steps", "4"), ("seed", "3")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await ReadEventsAsync(response);
        Assert.Equal(["image_edit.partial_image", "image_edit.partial_image", "image_edit.completed"], events.Select(e => e.Name));
        Assert.All(events, e => Assert.Equal(e.Name, (string)e.Data["type"]!));
        Assert.All(events, e => Assert.Equal("64x64", (string)e.Data["size"]!));
        Assert.Equal([0, 1], events.Take(2).Select(e => (int)e.Data["partial_image_index"]!));
        Assert.Contains("Size: 64x64", PngReader.Read(Convert.FromBase64String((string)events[2].Data["b64_json"]!)).GetText("parameters"));
        Assert.NotNull(events[2].Data["usage"]);
    }

    [Theory]
    [InlineData("""{"prompt":"x","stream":true,"partial_images":4}""", "partial_images", "must be an integer between 0 and 3", "(got 4)")]
    [InlineData("""{"prompt":"x","stream":true,"partial_images":-1}""", "partial_images", "must be an integer between 0 and 3", "(got -1)")]
    [InlineData("""{"prompt":"x","stream":true,"partial_images":"two"}""", "partial_images", "must be an integer between 0 and 3", "the string \"two\"")]
    [InlineData("""{"prompt":"x","partial_images":9}""", "partial_images", "must be an integer between 0 and 3", "(got 9)")]
    [InlineData("""{"prompt":"x","stream":"yes"}""", "stream", "must be true or false", "the string \"yes\"")]
    [InlineData("""{"prompt":"x","stream":true,"response_format":"url"}""", "response_format", "must be \"b64_json\" (or left out) with stream: true", "b64_json")]
    public async Task Bad_stream_fields_are_a_400_in_openais_error_object_before_any_stream(string body, string param, string says, string got)
    {
        var response = await Client.PostAsync("/v1/images/generations", Requests.Json(body));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        var error = problem["error"]!;
        Assert.Equal(param, (string)error["param"]!);
        Assert.Equal("invalid_request_error", (string)error["type"]!);
        Assert.Equal("invalid_request", (string)error["code"]!);
        Assert.Contains($"{param} {says}", (string)error["message"]!);
        Assert.Contains(got, (string)error["message"]!);
        Assert.Equal(0, Server.Generator.TotalStarted);
    }

    [Fact]
    public async Task Bad_partial_images_on_an_edit_form_names_the_field()
    {
        var init = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "data", "edit", "init64.png"));
        var response = await Client.PostAsync("/v1/images/edits", Requests.Form(("image", init), ("prompt", "x"), ("stream", "true"), ("partial_images", "7")));
        var problem = await response.AssertProblem(HttpStatusCode.BadRequest);
        Assert.Equal("partial_images", (string)problem["error"]!["param"]!);
        Assert.Contains("partial_images must be an integer between 0 and 3 (step previews streamed before the final images with stream: true) (got 7)",
            (string)problem["error"]!["message"]!);
    }

    [Fact]
    public async Task A_job_that_fails_mid_stream_ends_it_with_an_error_event_in_openais_shape()
    {
        Server.Generator.Failure = r => r.Prompt == "explode"
            ? new ZImageSharp.Errors.DeviceUnavailableException("CUDA device 0 fell off the bus.", "Check the driver.")
            : null;
        using var response = await PostAsync("/v1/images/generations", Requests.Json(new { prompt = "explode", stream = true, partial_images = 3, steps = 3 }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await ReadEventsAsync(response);
        // The failure comes after step 1, whose preview is the first partial image.
        Assert.Equal(["image_generation.partial_image", "error"], events.Select(e => e.Name));
        var data = events[1].Data;
        Assert.Equal("error", (string)data["type"]!);
        var error = data["error"]!;
        Assert.Contains("CUDA device 0 fell off the bus.", (string)error["message"]!);
        Assert.Equal("server_error", (string)error["type"]!);
        Assert.Equal("device_unavailable", (string)error["code"]!);
        Assert.Null(error["param"]);
    }

    [Fact]
    public async Task The_sync_timeout_cancels_a_streamed_job_and_says_so_in_an_error_event()
    {
        await using var server = new ServerFactory(configure: o => o.SyncTimeoutSeconds = 1);
        server.Generator.Hold = new TaskCompletionSource();
        using var client = server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/images/generations")
        {
            Content = Requests.Json(new { prompt = "held", stream = true, partial_images = 1, steps = 2 }),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var events = await ReadEventsAsync(response);
        var error = Assert.Single(events);
        Assert.Equal("error", error.Name);
        Assert.Equal("timeout", (string)error.Data["error"]!["code"]!);
        Assert.Contains("did not finish within 1 s", (string)error.Data["error"]!["message"]!);
        await Requests.Eventually(() => server.Generator.Cancelled == 1, "the held job is cancelled");
    }

    [Fact]
    public async Task The_stream_starts_while_the_job_is_queued()
    {
        Server.Generator.Hold = new TaskCompletionSource();
        var blocker = await Client.SubmitAsync(new { prompt = "blocker", steps = 2 });
        await Client.WaitForStateAsync((string)blocker["id"]!, "running");

        // Headers come at once, not when the job gets a worker.
        using var response = await PostAsync("/v1/images/generations", Requests.Json(new { prompt = "waits", stream = true, partial_images = 1, steps = 2 }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var queued = await Client.GetFromJsonAsync<JsonNode>("/api/jobs?state=queued");
        Assert.Equal("waits", (string)Assert.Single(queued!["jobs"]!.AsArray())!["request"]!["prompt"]!);

        Server.Generator.Hold.SetResult();
        var events = await ReadEventsAsync(response);
        Assert.Equal(["image_generation.partial_image", "image_generation.completed"], events.Select(e => e.Name));
    }

    [Fact]
    public async Task A_streaming_client_that_goes_away_cancels_its_job()
    {
        Server.Generator.Hold = new TaskCompletionSource();
        var response = await PostAsync("/v1/images/generations", Requests.Json(new { prompt = "abandoned stream", stream = true, partial_images = 2, steps = 4 }));
        await Requests.Eventually(() => Server.Generator.Started("abandoned stream") == 1, "the job starts");
        response.Dispose();
        await Requests.Eventually(() => Server.Generator.Cancelled == 1, "the job is cancelled");
        await Requests.Eventually(() => (string)Client.GetFromJsonAsync<JsonNode>("/api/jobs").Result!["jobs"]![0]!["state"]! == "cancelled",
            "history shows it cancelled");
        Assert.Equal(0, Server.Generator.Completed("abandoned stream"));
    }

    [Fact]
    public async Task The_openapi_document_gives_both_answers_json_and_the_event_stream()
    {
        var document = await Client.GetFromJsonAsync<JsonNode>("/openapi/v1.json");
        foreach (string path in new[] { "/v1/images/generations", "/v1/images/edits" })
        {
            var content = document!["paths"]![path]!["post"]!["responses"]!["200"]!["content"]!.AsObject();
            Assert.True(content.ContainsKey("application/json"), $"{path}: {content.ToJsonString()}");
            Assert.True(content.ContainsKey("text/event-stream"), $"{path}: {content.ToJsonString()}");
        }
    }

    private async Task<HttpResponseMessage> PostAsync(string path, HttpContent content)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        return await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>Every event of the stream until the server closes it; comment lines (keep-alives) are skipped.</summary>
    private static async Task<List<(string Name, JsonNode Data)>> ReadEventsAsync(HttpResponseMessage response)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var events = new List<(string, JsonNode)>();
        string? name = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add((name ?? "message", JsonNode.Parse(line[6..])!));
            else if (line.Length == 0) name = null;
        }
        return events;
    }

    private static long SeedOf(string b64Png)
    {
        string parameters = PngReader.Read(Convert.FromBase64String(b64Png)).GetText("parameters")!;
        int at = parameters.IndexOf("Seed: ", StringComparison.Ordinal) + "Seed: ".Length;
        return long.Parse(parameters[at..parameters.IndexOf(',', at)], System.Globalization.CultureInfo.InvariantCulture);
    }
}
