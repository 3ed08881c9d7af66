using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using ZImageSharp.Server.Security;

namespace ZImageSharp.Server.Apis;

/// <summary><c>/api/session</c>: whether the server needs a key, and the web page's session cookie. The page sends
/// its key as a Bearer header on fetch; EventSource and &lt;img&gt; cannot send headers, so it trades the key for an
/// HttpOnly, SameSite=Strict cookie that only ever reads (state changes always need the header, so the cookie gives
/// a forged cross-site request nothing to use).</summary>
internal static class SessionApi
{
    public static IEndpointRouteBuilder MapSessionApi(this IEndpointRouteBuilder app)
    {
        var session = app.MapGroup("/api/session").WithTags("Session");
        session.MapGet("/", Status)
            .AllowAnonymous()
            .WithName("GetSession")
            .WithSummary("Whether this server needs an API key, and what the presented key (or cookie) may do: full, read or null.")
            .Produces<SessionDto>();
        session.MapPost("/", Open)
            .AllowReadOnlyKeys()
            .WithName("OpenSession")
            .WithSummary("Sets the read-only session cookie for the key in the Authorization header (for EventSource and images).")
            .Produces<SessionDto>()
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        session.MapDelete("/", Close)
            .AllowAnonymous()
            .WithName("CloseSession")
            .WithSummary("Removes the session cookie.")
            .Produces(StatusCodes.Status204NoContent);
        return app;
    }

    private static Ok<SessionDto> Status(HttpContext context, ApiKeyRing keys) =>
        TypedResults.Ok(new SessionDto(keys.Enabled, Access(context)));

    private static Ok<SessionDto> Open(HttpContext context, ApiKeyRing keys)
    {
        // The guard let only a valid key in the Authorization header through (the cookie cannot POST).
        if (keys.Enabled && RequestGuard.PresentedKey(context.Request) is { } key)
            context.Response.Cookies.Append(RequestGuard.CookieName(context.Request), ApiKeyRing.SessionToken(key), CookieOptions(context));
        return TypedResults.Ok(new SessionDto(keys.Enabled, Access(context)));
    }

    private static NoContent Close(HttpContext context)
    {
        context.Response.Cookies.Delete(RequestGuard.CookieName(context.Request), CookieOptions(context));
        return TypedResults.NoContent();
    }

    private static CookieOptions CookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = "/",
        IsEssential = true,
    };

    private static string? Access(HttpContext context) =>
        context.Features.Get<ApiCaller>() is { } caller ? ApiKeyRing.Name(caller.Access) : null;
}

/// <param name="AuthRequired">True when the server has API keys.</param>
/// <param name="Access"><c>full</c>, <c>read</c>, or null when the request carried no valid key or cookie.</param>
internal sealed record SessionDto(bool AuthRequired, string? Access);
