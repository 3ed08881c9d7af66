using Microsoft.AspNetCore.Http;
using ZImageSharp.Errors;

namespace ZImageSharp.Server.Http;

/// <summary>How each error code reads on the wire: a snake_case code, an HTTP status and a problem+json type.
/// docs/api.md lists them.</summary>
internal static class ErrorCodes
{
    public const string TypePrefix = "urn:zimagesharp:problem:";

    // Server-side problems that have no engine ErrorCode.
    public const string QueueFull = "queue_full";
    public const string NotFound = "not_found";
    public const string Conflict = "conflict";
    public const string Cancelled = "cancelled";
    public const string ShuttingDown = "shutting_down";
    public const string Timeout = "timeout";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string CrossSite = "cross_site";
    public const string UnknownHost = "unknown_host";
    public const string MethodNotAllowed = "method_not_allowed";
    /// <summary>The S3 image store refused or did not answer: the server's upstream failed, not the server or client.</summary>
    public const string ImageStoreFailed = "image_store_failed";

    public static string Wire(ErrorCode code) => code switch
    {
        ErrorCode.InvalidRequest => "invalid_request",
        ErrorCode.NoPlanFits => "no_plan_fits",
        ErrorCode.OutOfMemory => "out_of_memory",
        ErrorCode.InvalidCheckpoint => "invalid_checkpoint",
        ErrorCode.DeviceUnavailable => "device_unavailable",
        _ => "internal",
    };

    public static int Status(string wireCode) => wireCode switch
    {
        "invalid_request" => StatusCodes.Status400BadRequest,
        Unauthorized => StatusCodes.Status401Unauthorized,
        Forbidden or CrossSite => StatusCodes.Status403Forbidden,
        MethodNotAllowed => StatusCodes.Status405MethodNotAllowed,
        UnknownHost => StatusCodes.Status421MisdirectedRequest,
        "no_plan_fits" => StatusCodes.Status422UnprocessableEntity,
        QueueFull => StatusCodes.Status429TooManyRequests,
        NotFound => StatusCodes.Status404NotFound,
        Conflict or Cancelled => StatusCodes.Status409Conflict,
        // The card ran out even after the engine's recoveries, or is gone: the request may succeed later.
        "out_of_memory" or "device_unavailable" or ShuttingDown => StatusCodes.Status503ServiceUnavailable,
        ImageStoreFailed => StatusCodes.Status502BadGateway,
        Timeout => StatusCodes.Status504GatewayTimeout,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>The code of an answer that only has a status (written by the framework, not by us).</summary>
    public static string ForStatus(int status) => status switch
    {
        StatusCodes.Status401Unauthorized => Unauthorized,
        StatusCodes.Status403Forbidden => Forbidden,
        StatusCodes.Status404NotFound => NotFound,
        StatusCodes.Status405MethodNotAllowed => MethodNotAllowed,
        StatusCodes.Status409Conflict => Conflict,
        StatusCodes.Status421MisdirectedRequest => UnknownHost,
        StatusCodes.Status429TooManyRequests => QueueFull,
        StatusCodes.Status503ServiceUnavailable => ShuttingDown,
        < 500 => "invalid_request",
        _ => "internal",
    };

    public static string Type(string wireCode) => TypePrefix + wireCode.Replace('_', '-');

    public static string Title(string wireCode) => wireCode switch
    {
        "invalid_request" => "The request is invalid.",
        "no_plan_fits" => "The request does not fit this device.",
        "out_of_memory" => "The device ran out of memory.",
        "invalid_checkpoint" => "The model weights cannot be used.",
        "device_unavailable" => "The device is unavailable.",
        QueueFull => "The queue is full.",
        NotFound => "Not found.",
        Conflict => "The job's state does not allow this.",
        Cancelled => "The job was cancelled.",
        ShuttingDown => "The server is shutting down.",
        Timeout => "The job took too long for a synchronous answer.",
        Unauthorized => "An API key is required.",
        Forbidden => "This API key may not do this.",
        CrossSite => "Cross-site requests may not change anything.",
        UnknownHost => "The server does not answer to this host name.",
        MethodNotAllowed => "The route does not serve this method.",
        ImageStoreFailed => "The image store failed.",
        _ => "The server failed.",
    };
}
