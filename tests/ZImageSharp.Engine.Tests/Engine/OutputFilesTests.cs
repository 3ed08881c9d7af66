using ZImageSharp.Cli.Commands;
using ZImageSharp.Imaging;

namespace ZImageSharp.Engine.Tests.Engine;

/// <summary>A file stream that fails like a full disk (ENOSPC) once <c>limit</c> bytes were written, at a write or at
/// the final flush, as a real full disk does.</summary>
internal sealed class FullDiskStream(Stream inner, long limit, bool failAtFlush = false) : Stream
{
    private long _written;

    public static IOException NoSpace(string path) => new($"No space left on device : '{path}'");

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int room = (int)Math.Max(0, Math.Min(buffer.Length, limit - _written));
        inner.Write(buffer[..room]);
        _written += room;
        if (!failAtFlush && room < buffer.Length) throw NoSpace(Name);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush()
    {
        inner.Flush();
        if (failAtFlush) throw NoSpace(Name);
    }

    private string Name => inner is FileStream f ? f.Name : "stream";

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _written;
    public override long Position { get => _written; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

[Collection(CliCollection.Name)]
public sealed class OutputFilesTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("zimage-output-");

    public void Dispose()
    {
        OutputFiles.CreateOverride = null;
        _dir.Delete(recursive: true);
    }

    private static FileStream Create(string path) => new(path, FileMode.CreateNew, FileAccess.Write);

    private string[] FileNames() => _dir.GetFiles().Select(f => f.Name).Order().ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AWriteThatFailsLeavesNoTemporaryFileAndNamesWhatWasWritten(bool failAtFlush)
    {
        string first = Path.Combine(_dir.FullName, "a-1.png"), second = Path.Combine(_dir.FullName, "a-2.png");
        var files = new OutputFiles(path => path.Contains("a-2.png") ? new FullDiskStream(Create(path), 10, failAtFlush) : Create(path));

        var e = Assert.Throws<OutputWriteException>(() => files.WriteAll([first, second], [new byte[100], new byte[100]]));
        Assert.StartsWith($"Could not write '{second}' (No space left on device", e.Message);
        Assert.EndsWith($"; already written: {first}. No partial file was left behind.", e.Message);
        Assert.Equal(["a-1.png"], FileNames());
        Assert.Equal(100, new FileInfo(first).Length);
    }

    [Fact]
    public void AFailedWriteKeepsTheFileItWouldHaveReplaced()
    {
        string path = Path.Combine(_dir.FullName, "keep.png");
        File.WriteAllBytes(path, [1, 2, 3]);
        var files = new OutputFiles(p => new FullDiskStream(Create(p), 1));
        Assert.Throws<OutputWriteException>(() => files.WriteAll([path], [new byte[50]]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(["keep.png"], FileNames());
    }

    [Fact]
    public void AFullDiskDuringGenerateLeavesNoPartialFileAndKeepsTheImagesWritten()
    {
        string output = Path.Combine(_dir.FullName, "fox.png");
        OutputFiles.CreateOverride = path => path.Contains("fox-2.png") ? new FullDiskStream(Create(path), 100) : Create(path);

        var (code, _, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "a fox", "--width", "64", "--height", "64",
            "--steps", "1", "--seed", "5", "--count", "2", "--output", output);

        Assert.Equal(ErrorReporter.OutputError, code);
        string written = Path.Combine(_dir.FullName, "fox-1.png");
        Assert.Contains($"Could not write '{Path.Combine(_dir.FullName, "fox-2.png")}' (No space left on device", stderr);
        Assert.Contains($"already written: {written}. No partial file was left behind.", stderr);
        Assert.Equal(["fox-1.png"], FileNames());
        Assert.Equal(5, ImageParameters.FromPng(PngReader.Read(File.ReadAllBytes(written)))!.Seed);
    }

    /// <summary>A folder this process cannot create files in: a read-only temporary folder, or, for root (whom
    /// permissions do not stop), sysfs, which refuses new files to everyone.</summary>
    private string UnwritableFolder()
    {
        var folder = _dir.CreateSubdirectory("read-only");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(folder.FullName, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        foreach (var candidate in new[] { folder.FullName, "/sys" })
        {
            if (!Directory.Exists(candidate)) continue;
            try { File.Create(Path.Combine(candidate, "probe.png")).Dispose(); File.Delete(Path.Combine(candidate, "probe.png")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return candidate; }
        }
        Skip.If(true, "every candidate folder is writable here");
        return "";
    }

    [SkippableFact]
    public void AnUnwritableOutputFolderFailsBeforeTheModelIsLoaded()
    {
        string folder = UnwritableFolder();
        try
        {
            var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "x", "--output", Path.Combine(folder, "x.png"));
            Assert.Equal(ErrorReporter.UsageError, code);
            Assert.Contains($"--output: cannot write to the folder '{folder}' (permission denied); choose another --output.", stderr);
            Assert.DoesNotContain("demo model", stdout); // no engine was built
            Assert.Empty(Directory.GetFiles(folder, "*.partial"));
        }
        finally
        {
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(_dir.FullName, "read-only"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void AFolderThatFailsToTakeAProbeFileFailsBeforeTheModelIsLoaded()
    {
        OutputFiles.CreateOverride = path => throw new UnauthorizedAccessException($"Access to the path '{path}' is denied.");
        var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "x", "--output", Path.Combine(_dir.FullName, "x.png"));
        Assert.Equal(ErrorReporter.UsageError, code);
        Assert.Contains($"--output: cannot write to the folder '{_dir.FullName}' (permission denied)", stderr);
        Assert.DoesNotContain("demo model", stdout);
    }

    [Theory]
    [InlineData("missing/x.png", "the folder '{0}/missing' does not exist.")]
    [InlineData("a-folder.png", "'{0}/a-folder.png' is a folder; give a file name ending in .png")]
    public void AnOutputThatCannotBeAFileFailsBeforeTheModelIsLoaded(string output, string message)
    {
        _dir.CreateSubdirectory("a-folder.png");
        var (code, stdout, stderr) = CliRunner.Run("generate", "--device", "cpu", "--prompt", "x", "--output", Path.Combine(_dir.FullName, output));
        Assert.Equal(ErrorReporter.UsageError, code);
        Assert.Contains(string.Format(message, _dir.FullName), stderr);
        Assert.DoesNotContain("demo model", stdout);
    }
}
