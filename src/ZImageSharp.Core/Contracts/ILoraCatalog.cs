using ZImageSharp.Errors;

namespace ZImageSharp.Contracts;

/// <summary>The LoRAs an engine can apply: the server lists them for the page and checks a request's LoRAs before it
/// queues the job, so a missing file or a file the engine cannot read is a 400 naming it, not a failed job.</summary>
public interface ILoraCatalog
{
    /// <summary>Names of the LoRA files in the LoRA folder (relative, without <c>.safetensors</c>); empty without one.</summary>
    IReadOnlyList<string> ListLoras();

    /// <summary>Problems with the LoRAs a request names (field <c>loras[i]</c>): missing, unreadable, an unknown key.</summary>
    IReadOnlyList<FieldError> CheckLoras(IReadOnlyList<LoraRequest> loras);
}
