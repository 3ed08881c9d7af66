using System.Text.Json.Nodes;
using Xunit.Abstractions;
using ZImageSharp.Server.Tests.Infrastructure;

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
    }
}
