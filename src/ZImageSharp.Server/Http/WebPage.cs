using System.Reflection;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace ZImageSharp.Server.Http;

/// <summary>Serves the web page from resources embedded in this assembly (wwwroot/): one binary, no build step,
/// nothing fetched from the internet at run time.</summary>
internal static class WebPage
{
    private const string ResourcePrefix = "wwwroot/";

    // Everything the page loads comes from this server; previews arrive as data: URLs.
    private const string ContentSecurityPolicy =
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    public static IEndpointRouteBuilder MapWebPage(this IEndpointRouteBuilder app)
    {
        var assembly = typeof(WebPage).Assembly;
        foreach (string resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var asset = Load(assembly, resource);
            string name = resource[ResourcePrefix.Length..];
            string route = name == "index.html" ? "/" : "/" + name;
            // The page holds no data (it asks the API, with its key, for everything), so it loads without one.
            app.MapGet(route, (HttpContext context) => Serve(context, asset)).ExcludeFromDescription().AllowAnonymous();
        }
        return app;
    }

    private static IResult Serve(HttpContext context, Asset asset)
    {
        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        if (asset.ContentType.StartsWith("text/html", StringComparison.Ordinal))
        {
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers["Referrer-Policy"] = "no-referrer";
        }
        if (context.Request.Headers.IfNoneMatch.Contains(asset.ETag))
            return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Bytes, asset.ContentType);
    }

    private static Asset Load(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        byte[] bytes = copy.ToArray();
        string etag = new EntityTagHeaderValue($"\"{Convert.ToHexString(SHA256.HashData(bytes))[..16]}\"").ToString();
        string type = Path.GetExtension(resource) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            ".svg" => "image/svg+xml",
            ".png" => "image/png",
            _ => "application/octet-stream",
        };
        return new Asset(bytes, type, etag);
    }
}
