namespace ZImageSharp.Cli.Commands;

/// <summary>
/// Where generate writes its PNGs. The folders are checked before any model is loaded (a generation can take
/// minutes, and its result would have nowhere to go), and each file is written to a temporary file in the same
/// folder, flushed to disk and then renamed over the target: a reader never sees half a PNG, and on any failure
/// (a full disk, a folder that became read-only) the temporary file is deleted, never left behind.
/// </summary>
internal sealed class OutputFiles
{
    public const string TemporarySuffix = ".partial";

    private readonly Func<string, Stream> _create;

    /// <param name="create">Creates a new file for writing; tests pass one that fails like a full disk.</param>
    public OutputFiles(Func<string, Stream>? create = null) => _create = create ?? CreateNew;

    /// <summary>Process-wide, so tests can run the whole CLI in-process against a failing disk.</summary>
    internal static Func<string, Stream>? CreateOverride { get; set; }

    public static OutputFiles Default => new(CreateOverride);

    /// <summary>Throws <see cref="UsageException"/> naming the first path whose folder is missing, is not a folder,
    /// or cannot be written (found by creating and deleting a probe file there, which is what counts: permissions,
    /// ACLs, read-only mounts and quotas all show).</summary>
    public void CheckWritable(IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
                throw new UsageException($"--output: '{path}' is a folder; give a file name ending in .png, e.g. '{Path.Combine(path, "zimage.png")}'.");
        }
        foreach (var folder in paths.Select(FolderOf).Distinct())
        {
            if (!Directory.Exists(folder))
                throw new UsageException(File.Exists(folder)
                    ? $"--output: '{folder}' is a file, not a folder."
                    : $"--output: the folder '{folder}' does not exist.");
            string probe = TemporaryPath(Path.Combine(folder, ".zimage-write-check"));
            try
            {
                using (var stream = _create(probe)) stream.WriteByte(0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--output: cannot write to the folder '{folder}' ({Reason(e)}); choose another --output.");
            }
            finally { TryDelete(probe); }
        }
    }

    /// <summary>Writes every image, in order. A failure names the file, the cause, and the files already written
    /// (they are complete and stay); nothing partial is left.</summary>
    public void WriteAll(IReadOnlyList<string> paths, IReadOnlyList<byte[]> contents)
    {
        for (int i = 0; i < paths.Count; i++)
        {
            try { WriteAtomically(paths[i], contents[i]); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                string written = i == 0 ? "no image was written" : $"already written: {string.Join(", ", paths.Take(i))}";
                throw new OutputWriteException($"Could not write '{paths[i]}' ({Reason(e)}); {written}. No partial file was left behind.", e);
            }
        }
    }

    private void WriteAtomically(string path, byte[] bytes)
    {
        string temp = TemporaryPath(path);
        try
        {
            using (var stream = _create(temp))
            {
                stream.Write(bytes);
                // Durable before the rename, so a crash cannot leave a complete-looking name over a truncated file.
                if (stream is FileStream file) file.Flush(flushToDisk: true);
                else stream.Flush();
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Unique per write, so two runs writing the same name never share a temporary file.</summary>
    internal static string TemporaryPath(string path) => $"{path}.{Guid.NewGuid():N}"[..(path.Length + 9)] + TemporarySuffix;

    private static string FolderOf(string path) => Path.GetDirectoryName(Path.GetFullPath(path)) is { Length: > 0 } dir ? dir : ".";

    private static Stream CreateNew(string path) => new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);

    private static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        _ => e.Message.TrimEnd('.'),
    };

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
