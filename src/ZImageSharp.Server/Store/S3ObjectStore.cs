using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace ZImageSharp.Server.Store;

/// <summary>AWS Signature Version 4 for S3-compatible stores (AWS S3, MinIO, Ceph RGW, Garage, …): the canonical
/// request, the string to sign and the derived signing key, as the S3 API reference gives them.</summary>
internal sealed class S3Signer(string accessKey, string secretKey, string region, string service = "s3")
{
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
/// which MinIO and most self-hosted stores expect), each request signed with <see cref="S3Signer"/>.</summary>
internal sealed class S3ObjectStore(HttpClient http, Uri endpoint, string bucket, string prefix, S3Signer signer, TimeProvider time)
{
    public string Describe(string key) => $"s3 {endpoint.GetLeftPart(UriPartial.Authority)}/{bucket}/{prefix}{key}";

    public async Task PutAsync(string key, byte[] body, CancellationToken cancellationToken)
    {
        using var request = Signed(HttpMethod.Put, key, body);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, "write", key).ConfigureAwait(false);
    }

    /// <summary>The object's bytes, or null when there is no such object.</summary>
    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        using var request = Signed(HttpMethod.Get, key, null);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureAsync(response, "read", key).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        using var request = Signed(HttpMethod.Delete, key, null);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return;
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

    private async Task EnsureAsync(HttpResponseMessage response, string what, string key)
    {
        if (response.IsSuccessStatusCode) return;
        string body = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        // S3 errors are XML with a <Code>: that is what tells a wrong key from a missing bucket.
        string code = body.IndexOf("<Code>", StringComparison.Ordinal) is var at and >= 0 && body.IndexOf("</Code>", at, StringComparison.Ordinal) is var end and > 0
            ? body[(at + 6)..end] : body.Length > 120 ? body[..120] : body;
        throw new IOException($"Could not {what} {Describe(key)}: HTTP {(int)response.StatusCode} {code}.");
    }
}
