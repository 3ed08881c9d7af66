using System.Text.Json.Nodes;
using Xunit.Abstractions;
using ZImageSharp.Server.Tests.Infrastructure;
using ZImageSharp.Server.Tests.Mocks;

namespace ZImageSharp.Server.Tests.Clients;

/// <summary>The official OpenAI Node SDK (tests/clients/openai-node, its version pinned by package-lock.json) against
/// the server with the real engine and the demo model on a loopback socket: the SDK must parse every answer as it
/// parses OpenAI's, the errors included.</summary>
public sealed class OpenAiNodeSdkTests(TinyEngineFixture tiny, ITestOutputHelper output) : IClassFixture<TinyEngineFixture>
{
    private const string Key = "node-sdk-key-0123456789abcdef";


    [SkippableFact]
    [Trait("Category", "Clients")]
    public async Task The_OpenAI_Node_SDK_lists_the_model_generates_a_png_and_gets_openai_errors()
    {
        var client = await NodeClient.PrepareAsync("openai-node");
        await using var host = new ServerFactory(configure: o => o.ApiKeys.Add(Key));
        var address = tiny.ServeOnLoopback(host);

        var run = await client.RunScriptAsync("client.mjs", [address.ToString(), "--edit"],
            new Dictionary<string, string> { ["ZIMAGE_API_KEY"] = Key, ["ZIMAGE_CLIENT_SIZE"] = "128x96" }, TimeSpan.FromSeconds(90));
        output.WriteLine(run.StandardOutput);
        if (run.StandardError.Length > 0) output.WriteLine(run.StandardError);
        Assert.True(run.ExitCode == 0, $"node client.mjs exited {run.ExitCode}:\n{run.StandardError}");
        var result = JsonNode.Parse(run.StandardOutput.Trim().Split('\n')[^1])!;
        // npm ci installed the SDK package-lock.json pins, not whatever the registry has newest.
        var lockFile = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(client.Folder, "package-lock.json")))!;
        Assert.Equal((string)lockFile["packages"]!["node_modules/openai"]!["version"]!, (string)result["sdk"]!["version"]!);
        output.WriteLine($"SDK {result["sdk"]!["version"]} on node {result["node"]}");

        var models = result["models"]!;
        Assert.True((bool)models["ok"]!, models.ToJsonString());
        var model = Assert.Single(models["models"]!.AsArray())!;
        Assert.Equal(tiny.Engine.Model.Name, (string)model["id"]!);
        Assert.Equal("model", (string)model["object"]!);

        var generate = result["generate"]!;
        Assert.True((bool)generate["ok"]!, generate.ToJsonString());
        Assert.True((long)generate["created"]! > 1_700_000_000);
        var image = Assert.Single(generate["images"]!.AsArray())!;
        Assert.NotNull(image["png"]); // the bytes start with the PNG signature and an IHDR
        Assert.Equal((128, 96), ((int)image["png"]!["width"]!, (int)image["png"]!["height"]!));
        Assert.True((int)image["bytes"]! > 1000, $"a {image["bytes"]}-byte PNG");

        // A size off the 16-pixel grid: the SDK's BadRequestError (an APIError) with OpenAI's error fields.
        var invalid = result["invalid"]!;
        Assert.False((bool)invalid["ok"]!, invalid.ToJsonString());
        var error = invalid["error"]!;
        Assert.True((bool)error["api_error"]!, error.ToJsonString());
        Assert.Equal("BadRequestError", (string)error["class"]!);
        Assert.Equal(400, (int)error["status"]!);
        Assert.Equal("size", (string?)error["param"]);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.Contains("size", (string)error["message"]!);
        Assert.Contains("100x70", (string)error["message"]!);

        // A wrong key is the SDK's AuthenticationError, with the server's message.
        var wrongKey = result["wrong_key"]!["error"]!;
        Assert.Equal("AuthenticationError", (string)wrongKey["class"]!);
        Assert.Equal(401, (int)wrongKey["status"]!);

        // images.edit with the generated PNG as a multipart upload: a PNG of the size asked for comes back.
        var edit = result["edit"]!;
        Assert.True((bool)edit["ok"]!, edit.ToJsonString());
        var edited = Assert.Single(edit["images"]!.AsArray())!;
        Assert.Equal((128, 96), ((int)edited["png"]!["width"]!, (int)edited["png"]!["height"]!));

        // stream: true, partial_images: 2 — the SDK's Stream yields two partial images (the engine's latent previews
        // of steps 2 and 4 of 4, an eighth of the image a side) and then the completed 128x96 PNG.
        var streamed = result["generate_stream"]!;
        Assert.True((bool)streamed["ok"]!, streamed.ToJsonString());
        Assert.Null(streamed["error"]);
        var events = streamed["events"]!.AsArray().Select(e => e!).ToList();
        Assert.Equal(["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"],
            events.Select(e => (string)e["type"]!));
        Assert.Equal([0, 1], events.Take(2).Select(e => (int)e["partial_image_index"]!));
        Assert.All(events.Take(2), e => Assert.Equal((16, 12), ((int)e["png"]!["width"]!, (int)e["png"]!["height"]!)));
        Assert.Equal((128, 96), ((int)events[2]["png"]!["width"]!, (int)events[2]["png"]!["height"]!));
        Assert.Equal(3, events.Select(e => (string)e["sha256"]!).Distinct().Count()); // two steps' previews, then the image
        Assert.All(events, e => Assert.Equal("128x96", (string)e["size"]!));
        Assert.All(events, e => Assert.Equal("low", (string)e["quality"]!));
        Assert.All(events, e => Assert.Equal("png", (string)e["output_format"]!));
        Assert.All(events, e => Assert.True((long)e["created_at"]! > 1_700_000_000));
        Assert.Equal(0, (int)events[2]["usage"]!["total_tokens"]!);

        // partial_images: 4 is refused before any stream: the SDK raises BadRequestError naming the field.
        var streamInvalid = result["stream_invalid"]!;
        Assert.False((bool)streamInvalid["ok"]!, streamInvalid.ToJsonString());
        Assert.Equal("BadRequestError", (string)streamInvalid["error"]!["class"]!);
        Assert.Equal("partial_images", (string?)streamInvalid["error"]!["param"]);
        Assert.Contains("between 0 and 3", (string)streamInvalid["error"]!["message"]!);

        // images.edit with stream: true (the SDK sends it as the form field "true"): image_edit events.
        var editStream = result["edit_stream"]!;
        Assert.True((bool)editStream["ok"]!, editStream.ToJsonString());
        Assert.Null(editStream["error"]);
        var editEvents = editStream["events"]!.AsArray().Select(e => e!).ToList();
        Assert.Equal(["image_edit.partial_image", "image_edit.completed"], editEvents.Select(e => (string)e["type"]!));
        Assert.Equal((128, 96), ((int)editEvents[1]["png"]!["width"]!, (int)editEvents[1]["png"]!["height"]!));
    }

    /// <summary>An error event mid-stream (here the fake engine fails the job after its first step): the SDK's
    /// iterator throws an APIError carrying OpenAI's error fields, after the partial image that came before it.</summary>
    [SkippableFact]
    [Trait("Category", "Clients")]
    public async Task The_OpenAI_Node_SDK_raises_a_streams_error_event_as_an_APIError()
    {
        var client = await NodeClient.PrepareAsync("openai-node");
        var generator = new FakeImageGenerator
        {
            Failure = r => r.Prompt == "fail mid-stream"
                ? new ZImageSharp.Errors.DeviceUnavailableException("CUDA device 0 fell off the bus.", "Check the driver.")
                : null,
        };
        await using var server = await LiveServer.StartAsync(generator, o => o.ApiKeys.Add(Key));

        var run = await client.RunScriptAsync("client.mjs", [server.BaseAddress.ToString(), "--stream-error"],
            new Dictionary<string, string> { ["ZIMAGE_API_KEY"] = Key, ["ZIMAGE_CLIENT_SIZE"] = "128x96" }, TimeSpan.FromSeconds(60));
        output.WriteLine(run.StandardOutput);
        if (run.StandardError.Length > 0) output.WriteLine(run.StandardError);
        Assert.True(run.ExitCode == 0, $"node client.mjs exited {run.ExitCode}:\n{run.StandardError}");
        var result = JsonNode.Parse(run.StandardOutput.Trim().Split('\n')[^1])!["stream_error"]!;

        Assert.True((bool)result["ok"]!, result.ToJsonString()); // the stream started: a 200, then events
        var partial = Assert.Single(result["events"]!.AsArray())!;
        Assert.Equal("image_generation.partial_image", (string)partial["type"]!);
        Assert.Equal((16, 16), ((int)partial["png"]!["width"]!, (int)partial["png"]!["height"]!));
        var error = result["error"]!;
        Assert.True((bool)error["api_error"]!, error.ToJsonString());
        Assert.Equal("APIError", (string)error["class"]!);
        Assert.Null(error["status"]);
        Assert.Equal("device_unavailable", (string?)error["code"]);
        Assert.Equal("server_error", (string?)error["type"]);
        Assert.Contains("CUDA device 0 fell off the bus.", (string)error["message"]!);
        Assert.Equal(1, generator.Started("fail mid-stream"));
    }
}
