using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using ZImageSharp.Server.Store;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>Images in an S3-compatible store: the request signer against the S3 reference's published example, and
/// the server against an S3 server that is not ours (<see cref="S3rver"/>: s3rver, which recomputes every Signature V4
/// with its own code and refuses a wrong one, as S3 does), read back with the official AWS SDK.</summary>
public sealed class S3Tests
{
    private const string Bucket = "zimage-images";
    private const string AccessKey = "zimage-access";
    private const string Secret = "zimage-secret-0123456789";

    // Spaces, a '+' and a non-ASCII letter: each path segment is signed URI-encoded, which s3rver checks with its own code.
    private const string Prefix = "fleet runs/ä+b/";

    [Fact]
    public void The_signer_reproduces_the_S3_references_GET_Object_example()
    {
        var vector = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "s3", "sigv4-get-object.json")))!;
        var signer = new S3Signer((string)vector["access_key"]!, (string)vector["secret_key"]!, (string)vector["region"]!);
        var headers = vector["headers"]!.AsObject().ToDictionary(h => h.Key, h => (string)h.Value!);
        var time = DateTime.Parse((string)vector["time"]!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        string authorization = signer.Authorization((string)vector["method"]!, (string)vector["canonical_uri"]!,
            (string)vector["canonical_query"]!, headers, (string)vector["payload_hash"]!, time);
        Assert.Equal((string)vector["authorization"]!, authorization);
    }

    [SkippableFact]
    public async Task Nodes_that_share_no_folder_serve_each_others_images_from_s3rver_and_the_AWS_SDK_reads_the_same_PNGs()
    {
        await using var s3 = await S3rver.StartAsync(Bucket, AccessKey, Secret);
        await using var db = await TestDatabase.CreateAsync();
        string workerCache = TempFolder.Create(), apiCache = TempFolder.Create();
        await using var worker = await InProcessNode.StartAsync(db, "gpu", workers: 1, workerCache, configure: o => UseBucket(o, s3));
        await using var api = await InProcessNode.StartAsync(db, "api", workers: 0, apiCache, configure: o => UseBucket(o, s3));
        await FleetTests.WaitForFleetAsync(api.Http, workers: 1);

        string id = (string)(await api.Http.SubmitAsync(new { prompt = "in the bucket", width = 512, height = 512, steps = 2, count = 2 }))["id"]!;
        Assert.Equal("succeeded", (string)(await api.Http.WaitForEndAsync(id, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Empty(Directory.GetFiles(workerCache)); // written to the bucket only

        // The AWS SDK lists exactly the two images, stored as image/png.
        var written = await s3.ReadWithAwsSdkAsync(Prefix);
        Assert.Equal(s3.PackageLockVersion("@aws-sdk/client-s3"), written.SdkVersion);
        Assert.Equal([$"{Prefix}{id}-0.png", $"{Prefix}{id}-1.png"], written.Objects.Select(o => o.Key).Order(StringComparer.Ordinal));
        Assert.All(written.Objects, o => Assert.Equal("image/png", o.ContentType));
        Assert.All(written.Objects, o => Assert.Equal(o.Size, o.Bytes.Length));

        // The API node serves the bytes the SDK got, byte for byte, and caches them: the second read asks nothing.
        var served = new List<byte[]>();
        foreach (int index in new[] { 0, 1 })
        {
            served.Add(await api.Http.GetByteArrayAsync($"/api/jobs/{id}/images/{index}"));
            Assert.Equal(written.Objects.Single(o => o.Key == $"{Prefix}{id}-{index}.png").Bytes, served[index]);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], served[index][..8]);
            Assert.True(File.Exists(Path.Combine(apiCache, $"{id}-{index}.png")));
        }
        await s3.SettleAsync();
        int reads = Ours(s3).Count(r => r.Method == "GET");
        Assert.Equal(served[1], await api.Http.GetByteArrayAsync($"/api/jobs/{id}/images/1"));
        await s3.SettleAsync();
        Assert.Equal(reads, Ours(s3).Count(r => r.Method == "GET"));

        Assert.Equal(HttpStatusCode.NoContent, (await api.Http.DeleteAsync($"/api/jobs/{id}")).StatusCode);
        var after = await s3.ReadWithAwsSdkAsync(Prefix);
        Assert.Empty(after.Objects);

        // Every request of ours was taken: PUTs with image/png, the startup checks' reads of the probe key 404, the rest 2xx.
        await s3.SettleAsync();
        var ours = Ours(s3);
        Assert.Equal(2, ours.Count(r => r.Method == "PUT"));
        Assert.All(ours.Where(r => r.Method == "PUT"), r => Assert.Equal("image/png", r.ContentType));
        Assert.Equal(2, ours.Count(r => r.Method == "DELETE"));
        Assert.Equal(2, ours.Count(r => r.Path.EndsWith(S3ObjectStore.ProbeKey, StringComparison.Ordinal) && r.Status == 404));
        Assert.All(ours.Where(r => !r.Path.EndsWith(S3ObjectStore.ProbeKey, StringComparison.Ordinal)), r => Assert.InRange(r.Status, 200, 299));

        // s3rver does check signatures: the SDK itself is refused with a wrong secret or key.
        Assert.Equal(("SignatureDoesNotMatch", 403), written.WrongSecret);
        Assert.Equal(("InvalidAccessKeyId", 403), written.WrongKey);
        TempFolder.Delete(workerCache);
        TempFolder.Delete(apiCache);
    }

    [SkippableFact]
    public async Task Wrong_keys_a_missing_bucket_or_a_buckets_own_address_stop_startup_saying_which_setting_is_wrong()
    {
        await using var s3 = await S3rver.StartAsync(Bucket, AccessKey, Secret);
        string section = Hosting.ZImageServerOptions.SectionName;

        var wrongSecret = await StartupFailureAsync(o => UseBucket(o, s3, secret: Secret + "x"));
        Assert.Equal("SignatureDoesNotMatch", wrongSecret.S3Code);
        Assert.Contains("HTTP 403 SignatureDoesNotMatch", wrongSecret.Message);
        Assert.Contains($"{section}:S3SecretKey (or AWS_SECRET_ACCESS_KEY) is not the secret of access key '{AccessKey}'", wrongSecret.Message);
        Assert.DoesNotContain(Secret, wrongSecret.Message);

        var wrongKey = await StartupFailureAsync(o => UseBucket(o, s3, accessKey: "someone-else"));
        Assert.Equal("InvalidAccessKeyId", wrongKey.S3Code);
        Assert.Contains("does not know access key 'someone-else'", wrongKey.Message);

        var noBucket = await StartupFailureAsync(o => { UseBucket(o, s3); o.S3Bucket = "no-such-bucket"; });
        Assert.Equal("NoSuchBucket", noBucket.S3Code);
        Assert.Contains($"There is no bucket 'no-such-bucket' at {s3.Endpoint.GetLeftPart(UriPartial.Authority)}", noBucket.Message);

        var virtualHosted = await StartupFailureAsync(o => { UseBucket(o, s3); o.S3Endpoint = $"http://{Bucket}.s3.localhost:{s3.Endpoint.Port}"; });
        Assert.Contains($"is bucket {Bucket}'s own (virtual-hosted) address", virtualHosted.Message);

        // A port nothing listens on.
        var nobody = await StartupFailureAsync(o => { UseBucket(o, s3); o.S3Endpoint = "http://127.0.0.1:1"; });
        Assert.Null(nobody.S3Code);
        Assert.Contains("the store at http://127.0.0.1:1 does not answer", nobody.Message);

        // None of them reached the bucket: s3rver holds nothing.
        Assert.Empty((await s3.ReadWithAwsSdkAsync("")).Objects);
    }

    [SkippableFact]
    public async Task Keys_rotated_under_a_running_server_fail_the_job_and_the_image_read_with_the_stores_answer_not_a_stack_trace()
    {
        await using var s3 = await S3rver.StartAsync(Bucket, AccessKey, Secret);
        await using var server = new ServerFactory(configure: o => UseBucket(o, s3));
        using var http = server.CreateClient();
        string before = (string)(await http.SubmitAsync(new { prompt = "before", width = 256, height = 256, steps = 2 }))["id"]!;
        Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(before))["state"]!);

        await s3.ReplaceSecretAsync("rotated-secret-9876543210");

        // Written to the bucket only, so this read goes to the store, which now refuses the node's signature.
        var read = await http.GetAsync($"/api/jobs/{before}/images/0");
        var problem = await read.AssertProblem(HttpStatusCode.BadGateway);
        Assert.Equal("image_store_failed", (string)problem["code"]!);
        string detail = (string)problem["detail"]!;
        Assert.Contains($"Could not read s3 {s3.Endpoint.GetLeftPart(UriPartial.Authority)}/{Bucket}/{Prefix}{before}-0.png: HTTP 403 SignatureDoesNotMatch", detail);
        Assert.Contains("S3SecretKey", detail);
        Assert.DoesNotContain(" at ZImageSharp", await read.Content.ReadAsStringAsync());

        string after = (string)(await http.SubmitAsync(new { prompt = "after", width = 256, height = 256, steps = 2 }))["id"]!;
        var failed = await http.WaitForEndAsync(after);
        Assert.Equal("failed", (string)failed["state"]!);
        Assert.Equal("image_store_failed", (string)failed["error"]!["code"]!);
        Assert.Contains($"Could not write s3 {s3.Endpoint.GetLeftPart(UriPartial.Authority)}/{Bucket}/{Prefix}{after}-0.png: HTTP 403 SignatureDoesNotMatch",
            (string)failed["error"]!["message"]!);
        Assert.DoesNotContain((await s3.ReadWithAwsSdkAsync(Prefix)).Objects, o => o.Key.Contains(after, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Keys_that_may_write_but_not_read_start_with_a_warning_and_the_read_says_access_denied()
    {
        await using var s3 = await S3rver.StartAsync(Bucket, AccessKey, Secret);
        await s3.DenyAsync("GET");
        await using var server = new ServerFactory(configure: o => UseBucket(o, s3));
        using var http = server.CreateClient();
        var warning = Assert.Single(server.Logs.Lines, l => l.Category.EndsWith(nameof(S3StoreCheck), StringComparison.Ordinal));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
        Assert.Contains("HTTP 403 AccessDenied", warning.Message);
        Assert.Contains($"Access key '{AccessKey}' may not do this in bucket '{Bucket}'", warning.Message);

        string id = (string)(await http.SubmitAsync(new { prompt = "write only", width = 256, height = 256, steps = 2 }))["id"]!;
        Assert.Equal("succeeded", (string)(await http.WaitForEndAsync(id))["state"]!);
        var problem = await (await http.GetAsync($"/api/jobs/{id}/images/0")).AssertProblem(HttpStatusCode.BadGateway);
        Assert.Contains($"Could not read s3 {s3.Endpoint.GetLeftPart(UriPartial.Authority)}/{Bucket}/{Prefix}{id}-0.png: HTTP 403 AccessDenied",
            (string)problem["detail"]!);
    }

    [Fact]
    public void A_bucket_without_endpoint_or_keys_stops_startup_saying_what_is_missing()
    {
        var result = new StoreOptionsValidator().Validate(null, new Hosting.ZImageServerOptions { S3Bucket = "b", S3AccessKey = "k" });
        Assert.Contains("S3Endpoint must be", result.FailureMessage);
        Assert.Contains("S3Bucket needs credentials", result.FailureMessage);
    }

    /// <summary>The requests our nodes sent: object paths under the prefix, encoded, with no query (the SDK's have one).</summary>
    private static List<S3Request> Ours(S3rver s3) =>
        [.. s3.Requests.Where(r => r.Path.StartsWith($"/{Bucket}/fleet%20runs/%C3%A4%2Bb/", StringComparison.Ordinal) && !r.Path.Contains('?'))];

    private static void UseBucket(Hosting.ZImageServerOptions options, S3rver s3, string? accessKey = null, string? secret = null)
    {
        options.S3Bucket = s3.Bucket;
        options.S3Endpoint = s3.Endpoint.ToString();
        options.S3Prefix = Prefix;
        options.S3AccessKey = accessKey ?? s3.AccessKey;
        options.S3SecretKey = secret ?? s3.SecretKey;
    }

    /// <summary>A single server (SQLite, the fake engine) that must not start: the store check's exception.</summary>
    private static async Task<S3StoreException> StartupFailureAsync(Action<Hosting.ZImageServerOptions> configure)
    {
        await using var server = new ServerFactory(configure: configure);
        var thrown = Record.Exception(() => server.CreateClient());
        Assert.NotNull(thrown);
        for (var e = thrown; e is not null; e = e.InnerException)
            if (e is S3StoreException store) return store;
        throw new Xunit.Sdk.XunitException($"Startup failed, but not with the store's answer: {thrown}");
    }
}
