using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using ZImageSharp.Server.Hosting;
using ZImageSharp.Server.Http;

namespace ZImageSharp.Server.Security;

/// <summary>Who is calling: set on every request that passed <see cref="RequestGuard"/>.</summary>
/// <param name="ByCookie">Authenticated by the page's session cookie, which only ever reads.</param>
internal sealed record ApiCaller(ApiAccess Access, bool ByCookie);

/// <summary>Endpoint metadata: the access a route needs when it is not what its method implies (GET and HEAD read,
/// anything else needs full access).</summary>
internal sealed record RequiredAccess(ApiAccess Access);

internal static class EndpointAccessExtensions
{
    /// <summary>For POSTs that change nothing (planning, opening a session): read-only keys may call them.</summary>
    public static TBuilder AllowReadOnlyKeys<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiredAccess(ApiAccess.Read));
}

/// <summary>Runs before every endpoint, in this order: the Host header must be one the server answers to (421), a
/// state-changing request must not come from another site's page (403), and the caller needs a key that allows the
/// route (401, 403), unless the route allows anonymous callers (the page's files, health probes). Without keys
/// everyone has full access, but only from this machine unless
/// <see cref="ZImageServerOptions.AllowUnauthenticatedNetwork"/> is set.</summary>
internal sealed class RequestGuard
{
    public const string Realm = "ZImageSharp";

    private readonly RequestDelegate _next;
    private readonly ApiKeyRing _keys;
    private readonly ZImageServerOptions _options;
    private readonly HashSet<string> _allowedOrigins;
    private readonly Lazy<HostAllowList> _hosts;

    public RequestGuard(RequestDelegate next, ApiKeyRing keys, IOptions<ZImageServerOptions> options, IServer server, IConfiguration configuration)
    {
        _next = next;
        _keys = keys;
        _options = options.Value;
        _allowedOrigins = _options.AllowedOrigins.Select(NormalizeOrigin).ToHashSet(StringComparer.Ordinal);
        // Built at the first request: only then has the server bound its addresses (port 0 included).
        _hosts = new Lazy<HostAllowList>(() => new HostAllowList(_options.AllowedHosts,
            (server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
                .Concat(ListenAddresses.Configured(configuration))
                .Select(ListenAddresses.Host)
                .OfType<string>()));
    }

    /// <summary>The page's session cookie. Cookies ignore ports, so two servers on one machine name theirs apart.</summary>
    public static string CookieName(HttpRequest request) =>
        request.Host.Port is { } port ? $"zimage_session_{port}" : "zimage_session";

    /// <summary>The key in the Authorization header: <c>Bearer KEY</c>, or <c>Basic</c> with the key as the
    /// password (A1111 clients send their credentials so). Null without one or when it cannot be read.</summary>
    public static string? PresentedKey(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString().Trim();
        int space = header.IndexOf(' ');
        if (space <= 0) return null;
        string scheme = header[..space], value = header[(space + 1)..].Trim();
        if (scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase)) return value.Length > 0 ? value : null;
        if (!scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)) return null;
        var bytes = new byte[value.Length];
        if (!Convert.TryFromBase64String(value, bytes, out int length)) return null;
        string pair = Encoding.UTF8.GetString(bytes, 0, length);
        int colon = pair.IndexOf(':');
        return colon >= 0 && colon < pair.Length - 1 ? pair[(colon + 1)..] : null;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (!_hosts.Value.Allows(request.Host.Host))
        {
            await Refuse(context, ErrorCodes.UnknownHost,
                $"This server does not answer to the host name '{Shorten(request.Host.Host)}'. If it is reached by that name, " +
                $"add the name to {ZImageServerOptions.SectionName}:AllowedHosts (zimage serve --allow-host).");
            return;
        }
        if (CrossSite(request) is { } from)
        {
            await Refuse(context, ErrorCodes.CrossSite,
                $"{request.Method} {Shorten(request.Path.Value ?? "/")} came from another site's page ({from}), and other sites' pages may not change " +
                $"anything here. Use this server's own page, call the API from a program, or list the origin in {ZImageServerOptions.SectionName}:AllowedOrigins.");
            return;
        }

        var endpoint = context.GetEndpoint();
        bool anonymous = endpoint?.Metadata.GetMetadata<IAllowAnonymous>() is not null;
        if (!_keys.Enabled)
        {
            if (!anonymous && !_options.AllowUnauthenticatedNetwork
                && context.Connection.RemoteIpAddress is { } remote && !ListenAddresses.IsLoopback(remote))
            {
                // Only a host configured in code can get here: startup refuses such addresses in the configuration.
                await Refuse(context, ErrorCodes.Forbidden,
                    $"This server has no API keys, so it answers this machine only, and {remote} is another. Configure a key " +
                    $"({ApiKeyRing.EnvironmentVariable}, {ZImageServerOptions.SectionName}:ApiKeys or zimage serve --api-key), or start it with --insecure-no-auth.");
                return;
            }
            context.Features.Set(new ApiCaller(ApiAccess.Full, ByCookie: false));
            await _next(context);
            return;
        }

        var (caller, failure) = Authenticate(request);
        if (caller is not null) context.Features.Set(caller);
        if (anonymous)
        {
            await _next(context);
            return;
        }
        bool reads = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method);
        if (caller is null || (caller.ByCookie && !reads))
        {
            await Challenge(context, caller is null ? failure : Failure.CookieCannotWrite);
            return;
        }
        // A 404 or the routing's 405 needs no more than a valid key: the caller learns what the route is.
        var required = endpoint is RouteEndpoint
            ? endpoint.Metadata.GetMetadata<RequiredAccess>()?.Access ?? (reads ? ApiAccess.Read : ApiAccess.Full)
            : ApiAccess.Read;
        if (required == ApiAccess.Full && caller.Access != ApiAccess.Full)
        {
            await Refuse(context, ErrorCodes.Forbidden,
                $"This API key is read-only: {request.Method} {Shorten(request.Path.Value ?? "/")} needs a key with full access.");
            return;
        }
        await _next(context);
    }

    private enum Failure
    {
        Missing,
        Unreadable,
        WrongKey,
        WrongCookie,
        CookieCannotWrite,
    }

    private (ApiCaller? Caller, Failure Failure) Authenticate(HttpRequest request)
    {
        if (request.Headers.Authorization.Count > 0)
        {
            if (PresentedKey(request) is not { } key) return (null, Failure.Unreadable);
            return _keys.Match(key) is { } access ? (new ApiCaller(access, ByCookie: false), default) : (null, Failure.WrongKey);
        }
        if (request.Cookies[CookieName(request)] is { Length: > 0 } cookie)
            return _keys.MatchSession(cookie) is not null ? (new ApiCaller(ApiAccess.Read, ByCookie: true), default) : (null, Failure.WrongCookie);
        return (null, Failure.Missing);
    }

    private static ValueTask Challenge(HttpContext context, Failure failure)
    {
        context.Response.Headers.WWWAuthenticate = failure == Failure.Missing
            ? $"Bearer realm=\"{Realm}\""
            : $"Bearer realm=\"{Realm}\", error=\"invalid_token\"";
        string detail = failure switch
        {
            Failure.Missing => "This server needs an API key: send it as 'Authorization: Bearer <key>'.",
            Failure.Unreadable => "The Authorization header must be 'Bearer <key>' (or Basic with the key as the password).",
            Failure.WrongKey => "The API key is not one of this server's keys.",
            Failure.WrongCookie => "The session cookie belongs to no key of this server; open a session again with the key (POST /api/session).",
            _ => "The session cookie only reads; send the API key as 'Authorization: Bearer <key>' to change anything.",
        };
        return Refuse(context, ErrorCodes.Unauthorized, detail);
    }

    private static ValueTask Refuse(HttpContext context, string code, string detail) =>
        Problems.WriteAsync(context, Problems.Create(code, detail));

    /// <summary>Why a state-changing request is another site's, or null. Browsers say where a request comes from in
    /// Sec-Fetch-Site (only to https and localhost) and Origin (on every cross-origin POST, body or not); a request
    /// with neither is not a browser's, and keys, not this check, guard against programs.</summary>
    private string? CrossSite(HttpRequest request)
    {
        string method = request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method))
            return null;
        string? origin = request.Headers.Origin.Count > 0 ? request.Headers.Origin.ToString() : null;
        if (origin is not null && _allowedOrigins.Contains(NormalizeOrigin(origin))) return null;
        string site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0)
            return site is "same-origin" or "none" ? null : $"Sec-Fetch-Site: {Shorten(site)}" + (origin is null ? "" : $", Origin {Shorten(origin)}");
        if (origin is null) return null;
        int port = request.Host.Port ?? (request.IsHttps ? 443 : 80);
        string own = $"{request.Scheme}://{request.Host.Host}:{port}".ToLowerInvariant();
        return NormalizeOrigin(origin) == own ? null : $"Origin {Shorten(origin)}";
    }

    /// <summary>scheme://host:port in lower case, the port always written; anything else (<c>null</c>) as it is.</summary>
    internal static string NormalizeOrigin(string origin) =>
        Uri.TryCreate(origin.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? $"{uri.Scheme}://{uri.Host}:{uri.Port}".ToLowerInvariant()
            : origin.Trim().ToLowerInvariant();

    private static string Shorten(string text) => text.Length <= 100 ? text : text[..100] + "…";
}
