using ZImageSharp.Errors;

namespace ZImageSharp.Engine.Weights;

/// <summary>Opens a weight path of either form: one <c>.safetensors</c> file or a sharded <c>.safetensors.index.json</c>.</summary>
public static class WeightSource
{
    public const string IndexSuffix = ".safetensors.index.json";
    public const string FileSuffix = ".safetensors";

    /// <exception cref="CheckpointException">The path is missing, of another format, or malformed.</exception>
    public static IWeightSource Open(string path)
    {
        if (Directory.Exists(path))
            throw new CheckpointException(
                $"'{path}' is a folder; a weight path must be a .safetensors file or a sharded {IndexSuffix} index.", path);
        if (!File.Exists(path))
            throw new CheckpointException($"The weight file '{path}' does not exist.", path);
        if (path.EndsWith(IndexSuffix, StringComparison.OrdinalIgnoreCase)) return SafetensorsIndex.Open(path);
        if (path.EndsWith(FileSuffix, StringComparison.OrdinalIgnoreCase)) return SafetensorsFile.Open(path);
        throw new CheckpointException(
            $"'{path}' is neither a .safetensors file nor a {IndexSuffix} index (other formats such as .ckpt, .bin, .gguf are not read).", path);
    }
}
