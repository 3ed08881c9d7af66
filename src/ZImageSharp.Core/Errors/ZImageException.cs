namespace ZImageSharp.Errors;

/// <summary>Stable codes: the HTTP layer maps each to a problem+json type and status; the CLI to an exit code.</summary>
public enum ErrorCode
{
    InvalidRequest,
    NoPlanFits,
    OutOfMemory,
    InvalidCheckpoint,
    DeviceUnavailable,
    Internal,
}

/// <summary>Base of every error the engine raises on purpose. The message is a full sentence meant for the user.</summary>
public class ZImageException(ErrorCode code, string message, Exception? inner = null) : Exception(message, inner)
{
    public ErrorCode Code { get; } = code;
}

public sealed record FieldError(string Field, string Message)
{
    public override string ToString() => $"{Field} {Message}";
}

public sealed class InvalidRequestException(IReadOnlyList<FieldError> errors)
    : ZImageException(ErrorCode.InvalidRequest, "Invalid request: " + string.Join(" ", errors))
{
    public IReadOnlyList<FieldError> Errors { get; } = errors;
}

/// <summary>A request no plan can run on this device, with the largest size that would.</summary>
public sealed class NoPlanFitsException(string message, string phase, Contracts.ImageSize? largestFittingSize)
    : ZImageException(ErrorCode.NoPlanFits, message)
{
    public string Phase { get; } = phase;
    public Contracts.ImageSize? LargestFittingSize { get; } = largestFittingSize;
}

/// <summary>A weight file or folder that cannot be used, naming the file and (where it applies) the tensor.</summary>
public sealed class CheckpointException(string message, string? file = null, string? tensor = null, Exception? inner = null)
    : ZImageException(ErrorCode.InvalidCheckpoint, message, inner)
{
    public string? File { get; } = file;
    public string? Tensor { get; } = tensor;
}

public sealed class DeviceUnavailableException(string message, string hint, Exception? inner = null)
    : ZImageException(ErrorCode.DeviceUnavailable, message + " " + hint, inner)
{
    public string Hint { get; } = hint;
}

/// <summary>A phase produced NaN or infinite values, so its result was not used: written out, such values become a
/// black or noisy PNG that looks like a picture of nothing.</summary>
public sealed class NonFiniteOutputException(string phase, string message)
    : ZImageException(ErrorCode.Internal, message)
{
    /// <summary>The phase whose output is not finite (lower case, as in progress reports).</summary>
    public string Phase { get; } = phase;
}
