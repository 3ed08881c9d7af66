using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>The OpenAI images API and the AUTOMATIC1111 API, as their existing clients call them.</summary>
public sealed class CompatibleApiTests : ServerApiTests
{

    [Fact]
    public async Task OpenAi_b64_json_returns_the_pngs_inline()
    {
        var response = await Client.PostAsync("/v1/images/generations", Requests.Json(new
        {
            model = "dall-e-3", prompt = "a lighthouse", n = 2, size = "512x256", response_format = "b64_json", quality = "hd", seed = 7,
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJson();
        Assert.InRange((long)body["created"]!, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        var data = body["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        Assert.All(data, d => Assert.Null(d!["url"]));
        var png = Convert.FromBase64String((string)data[1]!["b64_json"]!);
        Assert.Contains("Seed: 8, Size: 512x256", PngReader.Read(png).GetText("parameters"));
    }

    [Fact]
    public async Task OpenAi_url_points_at_the_stored_image()
    {
        var body = await (await Client.PostAsync("/v1/images/generations",
            Requests.Json(new { prompt = "a lighthouse", response_format = "url" }))).ReadJson();
        string url = (string)body["data"]![0]!["url"]!;
        Assert.Matches("^http://localhost/api/jobs/[0-9a-f]{32}/images/0$", url);
        Assert.Null(body["data"]![0]!["b64_json"]);
        var png = await Client.GetByteArrayAsync(url);
        Assert.Contains("Size: 1024x1024", PngReader.Read(png).GetText("parameters"));
        // The job is in the native history too.
        var history = await Client.GetFromJsonAsync<JsonNode>("/api/jobs");
        Assert.Equal("openai", (string)history!["jobs"]![0]!["source"]!);
    }

    [Fact]
    public async Task A1111_txt2img_returns_images_parameters_and_info()
    {
        var response = await Client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new
        {
            prompt = "a castle", negative_prompt = "fog", width = 768, height = 512, steps = 6, seed = 1234,
            batch_size = 2, n_iter = 1, cfg_scale = 1, sampler_name = "Euler", restore_faces = false, send_images = true,
        }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.ReadJson();
        var images = body["images"]!.AsArray();
        Assert.Equal(2, images.Count);
        var first = PngReader.Read(Convert.FromBase64String((string)images[0]!));
        Assert.Equal((768 / 16, 512 / 16), (first.Width, first.Height)); // the fake generator draws at 1/16 size
        var info = JsonNode.Parse((string)body["info"]!)!;
        Assert.Equal(1234, (long)info["seed"]!);
        Assert.Equal([1234L, 1235L], info["all_seeds"]!.AsArray().Select(s => (long)s!));
        Assert.Equal(1, (double)info["cfg_scale"]!); // A1111's CFG 1 is guidance off, Z-Image's 0
        Assert.Equal(768, (int)body["parameters"]!["width"]!);
        Assert.StartsWith("a castle\nNegative prompt: fog\nSteps: 6", (string)info["infotexts"]![0]!);
    }

    [Fact]
    public async Task A1111_seed_minus_one_draws_a_random_seed()
    {
        var body = await (await Client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new { prompt = "random", seed = -1, steps = 1 }))).ReadJson();
        long seed = (long)JsonNode.Parse((string)body["info"]!)!["seed"]!;
        Assert.InRange(seed, 0, uint.MaxValue);
    }

    [Fact]
    public async Task A1111_progress_shows_the_running_step_and_preview_and_interrupt_stops_it()
    {
        Server.Generator.Hold = new TaskCompletionSource();
        var idle = await Client.GetFromJsonAsync<JsonNode>("/sdapi/v1/progress");
        Assert.Equal(0, (double)idle!["progress"]!);
        Assert.Null(idle["current_image"]);

        var txt2img = Client.PostAsync("/sdapi/v1/txt2img", Requests.Json(new { prompt = "held", steps = 8 }));
        JsonNode progress = null!;
        await Requests.Eventually(() =>
        {
            progress = Client.GetFromJsonAsync<JsonNode>("/sdapi/v1/progress").Result!;
            return (int)progress["state"]!["sampling_step"]! == 1;
        }, "the job reports step 1");
        Assert.Equal(8, (int)progress["state"]!["sampling_steps"]!);
        Assert.InRange((double)progress["progress"]!, 0.05, 0.2);
        var preview = PngReader.Read(Convert.FromBase64String((string)progress["current_image"]!));
        Assert.Equal((16, 16), (preview.Width, preview.Height));
        var skipped = await Client.GetFromJsonAsync<JsonNode>("/sdapi/v1/progress?skip_current_image=true");
        Assert.Null(skipped!["current_image"]);

        var interrupt = await Client.PostAsync("/sdapi/v1/interrupt", null);
        Assert.Equal(1, (int)(await interrupt.ReadJson())["interrupted"]!);
        var problem = await (await txt2img).AssertProblem(HttpStatusCode.Conflict);
        Assert.Equal("urn:zimagesharp:problem:cancelled", (string)problem["type"]!);
        Assert.Equal(1, Server.Generator.Cancelled);
    }

    [Fact]
    public async Task A1111_interrupt_leaves_jobs_of_other_apis_alone()
    {
        Server.Generator.Hold = new TaskCompletionSource();
        var job = await Client.SubmitAsync(new { prompt = "native", steps = 2 });
        await Client.WaitForStateAsync((string)job["id"]!, "running");
        Assert.Equal(0, (int)(await (await Client.PostAsync("/sdapi/v1/interrupt", null)).ReadJson())["interrupted"]!);
        Server.Generator.Hold.SetResult();
        Assert.Equal("succeeded", (string)(await Client.WaitForEndAsync((string)job["id"]!))["state"]!);
    }

    [Fact]
    public async Task A1111_options_models_and_samplers()
    {
        var options = await Client.GetFromJsonAsync<JsonNode>("/sdapi/v1/options");
        Assert.Equal("fake-tiny", (string)options!["sd_model_checkpoint"]!);
        var set = await Client.PostAsync("/sdapi/v1/options", Requests.Json(new { sd_model_checkpoint = "other.safetensors" }));
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal("null", await set.Content.ReadAsStringAsync());
        var models = await Client.GetFromJsonAsync<JsonNode>("/sdapi/v1/sd-models");
        Assert.Equal("fake-tiny", (string)models![0]!["model_name"]!);
        var samplers = await Client.GetFromJsonAsync<JsonNode>("/sdapi/v1/samplers");
        Assert.Equal(["Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "LCM", "Res Multistep"],
            samplers!.AsArray().Select(n => (string)n!["name"]!));
    }

    [Fact]
    public async Task A_synchronous_client_that_goes_away_cancels_its_job()
    {
        Server.Generator.Hold = new TaskCompletionSource();
        using var gone = new CancellationTokenSource();
        var call = Client.PostAsync("/v1/images/generations", Requests.Json(new { prompt = "abandoned" }), gone.Token);
        await Requests.Eventually(() => Server.Generator.Started("abandoned") == 1, "the job starts");
        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        await Requests.Eventually(() => Server.Generator.Cancelled == 1, "the job is cancelled");
        var history = await Client.GetFromJsonAsync<JsonNode>("/api/jobs");
        await Requests.Eventually(() => (string)Client.GetFromJsonAsync<JsonNode>("/api/jobs").Result!["jobs"]![0]!["state"]! == "cancelled",
            "history shows it cancelled");
        Assert.NotNull(history);
    }
}
