using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZImageSharp.Errors;

namespace ZImageSharp.Server.Store;

/// <summary>AWS Signature Version 4 for S3-compatible stores (AWS S3, MinIO, Ceph RGW, Garage, …): the canonical
/// request, the string to sign and the derived signing key, as the S3 API reference gives them.</summary>
internal sealed class S3Signer(string accessKey, string secretKey, string region, string service = "s3")
{
    public string AccessKey => accessKey;

    public string Region => region;

    public const string EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    public static string Hash(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));

    public static string AmzDate(DateTime utc) => utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The Authorization header for a request whose headers (names lower-case) include host, x-amz-date and
    /// x-amz-content-sha256; every header given is signed. <paramref name="canonicalUri"/> is already URI-encoded.</summary>
    public string Authorization(string method, string canonicalUri, string canonicalQuery, IReadOnlyDictionary<string, string> headers,
        string payloadHash, DateTime utc)
    {
        var names = headers.Keys.Select(k => k.ToLowerInvariant()).Order(StringComparer.Ordinal).ToArray();
        string canonicalHeaders = string.Concat(names.Select(n => $"{n}:{headers[n].Trim()}\n"));
        string signedHeaders = string.Join(';', names);
        string canonicalRequest = $"{method}\n{canonicalUri}\n{canonicalQuery}\n{canonicalHeaders}\n{signedHeaders}\n{payloadHash}";
        string date = utc.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        string scope = $"{date}/{region}/{service}/aws4_request";
        string stringToSign = $"AWS4-HMAC-SHA256\n{AmzDate(utc)}\n{scope}\n{Hash(Encoding.UTF8.GetBytes(canonicalRequest))}";
        byte[] key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretKey), date);
        key = Hmac(key, region);
        key = Hmac(key, service);
        key = Hmac(key, "aws4_request");
        string signature = Convert.ToHexStringLower(Hmac(key, stringToSign));
        return $"AWS4-HMAC-SHA256 Credential={accessKey}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}";
    }

    /// <summary>RFC 3986 encoding of one path segment, as S3 canonicalises it.</summary>
    public static string EncodeSegment(string segment) => Uri.EscapeDataString(segment);

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));
}

/// <summary>Objects in one bucket of an S3-compatible store, addressed path-style (<c>{endpoint}/{bucket}/{key}</c>,
/// which MinIO and most self-hosted stores expect and AWS S3 accepts), each request signed with <see cref="S3Signer"/>.
/// Every failure is an <see cref="S3StoreException"/> saying which object, what the store answered and what to fix.</summary>
internal sealed class S3ObjectStore(HttpClient http, Uri endpoint, string bucket, string prefix, S3Signer signer, TimeProvider time)
{
    /// <summary>A key no image has: <see cref="CheckAsync"/> reads it to see that the bucket takes the keys.</summary>
    public const string ProbeKey = ".zimage-store-check";

    public string Endpoint => endpoint.GetLeftPart(UriPartial.Authority);

    public string Describe(string key) => $"s3 {Endpoint}/{bucket}/{prefix}{key}";

    /// <summary>The store of <paramref name="options"/> (whose S3Bucket is set and validated), through
    /// <paramref name="http"/> or a client of its own.</summary>
    public static S3ObjectStore For(Hosting.ZImageServerOptions options, TimeProvider time, HttpClient? http = null) =>
        new(http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(60) }, new Uri(options.S3Endpoint!), options.S3Bucket!, options.S3Prefix,
            new S3Signer(options.ResolvedS3AccessKey!, options.ResolvedS3SecretKey!, options.S3Region), time);

    /// <summary>Checks, before a node serves or runs anything, that the endpoint is a store's address, that the bucket
    /// exists and that it takes the keys: a read of <see cref="ProbeKey"/>, which is missing (404) or there, never
    /// written. Returns a warning when the store refuses the read with AccessDenied, which it also does for a missing
    /// key when the keys may read objects but not list the bucket; throws for everything else.</summary>
    public async Task<string?> CheckAsync(CancellationToken cancellationToken)
    {
        // A bucket's virtual-hosted address (https://images.s3.eu-west-1.amazonaws.com) would put every key under
        // images/ inside that bucket, silently.
        if (endpoint.Host.StartsWith(bucket + ".", StringComparison.OrdinalIgnoreCase))
            throw new S3StoreException(null,
                $"S3Endpoint {Endpoint} is bucket {bucket}'s own (virtual-hosted) address; give the store's address " +
                $"(https://s3.<region>.amazonaws.com, http://minio.lan:9000): objects are addressed path-style, {{endpoint}}/{bucket}/{{key}}.");
        try
        {
            await GetAsync(ProbeKey, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (S3StoreException e) when (e.S3Code == "AccessDenied")
        {
            return $"{e.Message} Keys that may read and write objects but not list the bucket get this for a missing key too, " +
                   "so the node starts; the first image written or read will tell.";
        }
    }

    public async Task PutAsync(string key, byte[] body, CancellationToken cancellationToken)
    {
        using var request = Signed(HttpMethod.Put, key, body);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        using var response = await SendAsync(request, "write", key, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, "write", key).ConfigureAwait(false);
    }

    /// <summary>The object's bytes, or null when there is no such object (NoSuchKey; a missing bucket is an error).</summary>
    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        using var request = Signed(HttpMethod.Get, key, null);
        using var response = await SendAsync(request, "read", key, cancellationToken).ConfigureAwait(false);
        if (await MissingAsync(response).ConfigureAwait(false)) return null;
        await EnsureAsync(response, "read", key).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        using var request = Signed(HttpMethod.Delete, key, null);
        using var response = await SendAsync(request, "delete", key, cancellationToken).ConfigureAwait(false);
        if (await MissingAsync(response).ConfigureAwait(false)) return;
        await EnsureAsync(response, "delete", key).ConfigureAwait(false);
    }

    private HttpRequestMessage Signed(HttpMethod method, string key, byte[]? body)
    {
        string path = endpoint.AbsolutePath.TrimEnd('/') + "/" + S3Signer.EncodeSegment(bucket) + "/"
                      + string.Join('/', (prefix + key).Split('/').Select(S3Signer.EncodeSegment));
        var uri = new UriBuilder(endpoint) { Path = path }.Uri;
        var now = time.GetUtcNow().UtcDateTime;
        string payloadHash = body is null ? S3Signer.EmptyPayloadHash : S3Signer.Hash(body);
        string host = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        var headers = new Dictionary<string, string>
        {
            ["host"] = host,
            ["x-amz-content-sha256"] = payloadHash,
            ["x-amz-date"] = S3Signer.AmzDate(now),
        };
        var request = new HttpRequestMessage(method, uri);
        request.Headers.Host = host;
        request.Headers.TryAddWithoutValidation("x-amz-content-sha256", payloadHash);
        request.Headers.TryAddWithoutValidation("x-amz-date", headers["x-amz-date"]);
        request.Headers.TryAddWithoutValidation("Authorization", signer.Authorization(method.Method, uri.AbsolutePath, "", headers, payloadHash, now));
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string what, string key, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new S3StoreException(null, $"Could not {what} {Describe(key)}: the store at {Endpoint} does not answer ({e.Message}).", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new S3StoreException(null, $"Could not {what} {Describe(key)}: the store at {Endpoint} did not answer within {http.Timeout.TotalSeconds:0} s.", e);
        }
    }

    /// <summary>A 404 for the key itself. S3 answers NoSuchBucket with 404 too, and that is a setting to fix, not a
    /// missing image.</summary>
    private static async Task<bool> MissingAsync(HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.NotFound) return false;
        var (code, _) = ParseError(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        return code is null or "NoSuchKey";
    }

    private async Task EnsureAsync(HttpResponseMessage response, string what, string key)
    {
        if (response.IsSuccessStatusCode) return;
        string body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        var (code, message) = ParseError(body);
        string answered = code is null
            ? $"HTTP {(int)response.StatusCode}{(body.Length == 0 ? "" : ": " + (body.Length > 120 ? body[..120] + "…" : body))}"
            : $"HTTP {(int)response.StatusCode} {code}{(message is null ? "" : $" ({message})")}";
        throw new S3StoreException(code, $"Could not {what} {Describe(key)}: {answered}.{Fix(code)}");
    }

    /// <summary>What a setting has to do with the error codes a wrong setting gets.</summary>
    private string Fix(string? code)
    {
        string section = Hosting.ZImageServerOptions.SectionName;
        return code switch
        {
            "InvalidAccessKeyId" => $" The store does not know access key '{signer.AccessKey}': check {section}:S3AccessKey (or AWS_ACCESS_KEY_ID).",
            "SignatureDoesNotMatch" => $" {section}:S3SecretKey (or AWS_SECRET_ACCESS_KEY) is not the secret of access key '{signer.AccessKey}'.",
            "AuthorizationHeaderMalformed" => $" Is {section}:S3Region ('{signer.Region}') the store's region?",
            "NoSuchBucket" => $" There is no bucket '{bucket}' at {Endpoint}: create it, or fix {section}:S3Bucket.",
            "AccessDenied" => $" Access key '{signer.AccessKey}' may not do this in bucket '{bucket}'.",
            "RequestTimeTooSkewed" => " This machine's clock is more than 15 minutes off the store's.",
            _ => "",
        };
    }

    /// <summary>S3 errors are XML with a Code (what tells a wrong key from a missing bucket) and a Message.</summary>
    private static (string? Code, string? Message) ParseError(string body)
    {
        if (body.Length == 0 || !body.TrimStart().StartsWith('<')) return (null, null);
        try
        {
            var error = System.Xml.Linq.XDocument.Parse(body).Root;
            string? Element(string name) => error?.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
            return (Element("Code"), Element("Message"));
        }
        catch (System.Xml.XmlException)
        {
            return (null, null);
        }
    }
}

/// <summary>The object store failed or refused, as a sentence for the user: a job whose images cannot be written fails
/// with it, an image that cannot be read is answered with it (problem+json, no stack trace), and a node whose store
/// check fails does not start.</summary>
internal sealed class S3StoreException(string? s3Code, string message, Exception? inner = null)
    : ZImageException(ErrorCode.Internal, message, inner)
{
    /// <summary>The store's error code (SignatureDoesNotMatch, NoSuchBucket, …); null when it gave none.</summary>
    public string? S3Code { get; } = s3Code;
}

/// <summary>With <see cref="Hosting.ZImageServerOptions.S3Bucket"/> set, <see cref="S3ObjectStore.CheckAsync"/> before the
/// workers start: wrong keys, a missing bucket or an unreachable store stop startup, saying which, rather than failing
/// the first job.</summary>
internal sealed partial class S3StoreCheck(IOptions<Hosting.ZImageServerOptions> options, TimeProvider time, ILogger<S3StoreCheck> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Value.S3Bucket)) return;
        // Shorter than a request's timeout: a store that does not answer should not hold startup for a minute.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        var store = S3ObjectStore.For(options.Value, time, http);
        if (await store.CheckAsync(cancellationToken).ConfigureAwait(false) is { } warning)
            CouldNotConfirm(logger, warning);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(90, LogLevel.Warning, "Image store check: {Warning}")]
    private static partial void CouldNotConfirm(ILogger logger, string warning);
}
