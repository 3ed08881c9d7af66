using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ZImageSharp.Server.Store;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests.ScaleOut;

/// <summary>Images in an S3-compatible store: the request signer against the S3 reference's published example, and a
/// fleet whose nodes share no folder, only a bucket (served here by a small S3 stand-in that checks signatures).</summary>
public sealed class S3Tests
{
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
    public async Task Nodes_that_share_no_folder_serve_each_others_images_from_the_bucket()
    {
        await using var s3 = await FakeS3.StartAsync("zimage-images", "minio-key", "minio-secret");
        await using var db = await TestDatabase.CreateAsync();
        string workerCache = TempFolder.Create(), apiCache = TempFolder.Create();
        void S3(Hosting.ZImageServerOptions o)
        {
            o.S3Bucket = "zimage-images";
            o.S3Endpoint = s3.Endpoint.ToString();
            o.S3Prefix = "fleet/";
            o.S3AccessKey = "minio-key";
            o.S3SecretKey = "minio-secret";
        }
        await using var worker = await InProcessNode.StartAsync(db, "gpu", workers: 1, workerCache, configure: S3);
        await using var api = await InProcessNode.StartAsync(db, "api", workers: 0, apiCache, configure: S3);
        await FleetTests.WaitForFleetAsync(api.Http, workers: 1);

        string id = (string)(await api.Http.SubmitAsync(new { prompt = "in the bucket", width = 512, height = 512, steps = 2, count = 2 }))["id"]!;
        Assert.Equal("succeeded", (string)(await api.Http.WaitForEndAsync(id, TimeSpan.FromSeconds(30)))["state"]!);
        Assert.Equal([$"fleet/{id}-0.png", $"fleet/{id}-1.png"], s3.Objects.Keys.Order());
        Assert.Empty(Directory.GetFiles(workerCache)); // written to the bucket only

        byte[] served = await api.Http.GetByteArrayAsync($"/api/jobs/{id}/images/1");
        Assert.Equal(s3.Objects[$"fleet/{id}-1.png"], served);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], served[..4]);
        Assert.True(File.Exists(Path.Combine(apiCache, $"{id}-1.png"))); // cached: the second read needs no request
        int reads = s3.Gets;
        Assert.Equal(served, await api.Http.GetByteArrayAsync($"/api/jobs/{id}/images/1"));
        Assert.Equal(reads, s3.Gets);

        Assert.Equal(HttpStatusCode.NoContent, (await api.Http.DeleteAsync($"/api/jobs/{id}")).StatusCode);
        Assert.Empty(s3.Objects);
        Assert.Equal(0, s3.BadSignatures);
        TempFolder.Delete(workerCache);
        TempFolder.Delete(apiCache);
    }

    [Fact]
    public void A_bucket_without_endpoint_or_keys_stops_startup_saying_what_is_missing()
    {
        var result = new StoreOptionsValidator().Validate(null, new Hosting.ZImageServerOptions { S3Bucket = "b", S3AccessKey = "k" });
        Assert.Contains("S3Endpoint must be", result.FailureMessage);
        Assert.Contains("S3Bucket needs credentials", result.FailureMessage);
    }

    /// <summary>The part of the S3 API the server uses (PUT, GET, DELETE of an object, path-style), in memory; each
    /// request's signature is recomputed and a wrong one answered 403 SignatureDoesNotMatch, as S3 does.</summary>
    private sealed class FakeS3 : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _gets, _badSignatures;

        private FakeS3(WebApplication app) => _app = app;

        public ConcurrentDictionary<string, byte[]> Objects { get; } = new();

        public Uri Endpoint => new(_app.Urls.Single());

        public int Gets => Volatile.Read(ref _gets);

        public int BadSignatures => Volatile.Read(ref _badSignatures);

        public static async Task<FakeS3> StartAsync(string bucket, string accessKey, string secretKey)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var fake = new FakeS3(app);
            var signer = new S3Signer(accessKey, secretKey, "us-east-1");
            app.Map($"/{bucket}/{{**key}}", async (HttpContext context, string key) =>
            {
                var request = context.Request;
                byte[] body;
                using (var buffer = new MemoryStream())
                {
                    await request.Body.CopyToAsync(buffer);
                    body = buffer.ToArray();
                }
                string hash = request.Headers["x-amz-content-sha256"].ToString();
                string date = request.Headers["x-amz-date"].ToString();
                var time = DateTime.ParseExact(date, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
                var headers = new Dictionary<string, string> { ["host"] = request.Host.Value!, ["x-amz-content-sha256"] = hash, ["x-amz-date"] = date };
                string expected = signer.Authorization(request.Method, request.Path.ToUriComponent(), "", headers, S3Signer.Hash(body), time);
                if (request.Headers.Authorization.ToString() != expected || hash != S3Signer.Hash(body))
                {
                    Interlocked.Increment(ref fake._badSignatures);
                    return Results.Content("<Error><Code>SignatureDoesNotMatch</Code></Error>", "application/xml", statusCode: 403);
                }
                switch (request.Method)
                {
                    case "PUT":
                        fake.Objects[key] = body;
                        return Results.Ok();
                    case "GET":
                        Interlocked.Increment(ref fake._gets);
                        return fake.Objects.TryGetValue(key, out var found) ? Results.Bytes(found, "image/png")
                            : Results.Content("<Error><Code>NoSuchKey</Code></Error>", "application/xml", statusCode: 404);
                    case "DELETE":
                        fake.Objects.TryRemove(key, out _);
                        return Results.NoContent();
                    default:
                        return Results.StatusCode(405);
                }
            });
            await app.StartAsync();
            return fake;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
