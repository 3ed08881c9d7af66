using ZImageSharp.Contracts;
using ZImageSharp.Imaging;
using ZImageSharp.Server.Jobs;
using ZImageSharp.Server.Tests.Infrastructure;

namespace ZImageSharp.Server.Tests;

/// <summary>The server's two PNG uses, on Core's encoder and reader: step previews and tagging engine images.</summary>
public sealed class PngTests
{
    [Fact]
    public void Encode_writes_a_valid_header_and_text_survives_a_round_trip_in_utf8()
    {
        var rgb = Enumerable.Range(0, 4 * 3 * 3).Select(i => (byte)i).ToArray();
        byte[] png = PngEncoder.Encode(rgb, 4, 3, PngColorType.Rgb);
        Assert.Equal(4, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(3, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        // IHDR CRC of a 4x3 8-bit RGB image, as zlib's crc32 computes it.
        Assert.Equal(0x3B963991u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(29)));

        byte[] tagged = PngEncoder.InsertText(png, [new PngText(ImageParameters.InfotextKeyword, "猫 in the rain\nSteps: 8")]);
        Assert.Equal("猫 in the rain\nSteps: 8", PngReader.Read(tagged).GetText("parameters"));
        Assert.Equal(png.Length + 12 + "parameters".Length + 5 + "猫 in the rain\nSteps: 8"u8.Length, tagged.Length);
        Assert.True(tagged.AsSpan(tagged.Length - 12).SequenceEqual(png.AsSpan(png.Length - 12))); // IEND stays last
    }

    [Fact]
    public void Encode_refuses_a_preview_whose_bytes_do_not_match_its_size()
    {
        var preview = new PreviewImage(4, 4, new byte[10]);
        var error = Assert.Throws<ArgumentException>(() => PngEncoder.Encode(preview.Rgb, preview.Width, preview.Height, PngColorType.Rgb));
        Assert.Contains("4x4 Rgb image needs 48 bytes of pixels; got 10", error.Message);
    }
}

public sealed class JobQueueTests
{
    [Fact]
    public async Task Dequeues_in_order_reports_positions_and_skips_removed_ids()
    {
        var queue = new JobQueue();
        Assert.Equal(1, queue.Enqueue("a"));
        Assert.Equal(2, queue.Enqueue("b"));
        Assert.Equal(3, queue.Enqueue("c"));
        Assert.Equal(2, queue.PositionOf("b"));
        Assert.True(queue.TryRemove("a"));
        Assert.False(queue.TryRemove("a"));
        Assert.Equal(1, queue.PositionOf("b"));
        Assert.Equal(0, queue.PositionOf("a"));
        Assert.Equal("b", await queue.DequeueAsync(CancellationToken.None));
        Assert.Equal("c", await queue.DequeueAsync(CancellationToken.None));
        Assert.Equal(0, queue.Count);
        using var timeout = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queue.DequeueAsync(timeout.Token));
    }
}

public sealed class JobStoreTests : IDisposable
{
    private readonly string _folder = TempFolder.Create();

    public void Dispose() => TempFolder.Delete(_folder);

    [Fact]
    public async Task A_job_finishes_at_most_once_and_only_from_its_own_attempt()
    {
        await using var store = JobStore.Open(Path.Combine(_folder, "history.db"));
        var job = await store.InsertAsync(new JobRecord
        {
            Id = "job1",
            Request = new GenerationRequest { Prompt = "p", Seed = 3, Shift = 2.5f },
            Source = JobSource.OpenAi,
            CreatedAt = DateTimeOffset.UtcNow,
        });
        Assert.True(job.Sequence > 0);
        Assert.True(await store.TryStartAsync("job1", 1, DateTimeOffset.UtcNow));
        Assert.False(await store.TryStartAsync("job1", 2, DateTimeOffset.UtcNow)); // not queued any more
        Assert.False(await store.TryCompleteAsync("job1", 2, DateTimeOffset.UtcNow, "p", 1, [])); // stale attempt
        var image = new JobImage(0, 3, 64, 64, "job1-0.png");
        Assert.True(await store.TryCompleteAsync("job1", 1, DateTimeOffset.UtcNow, "plan", 1.5, [image]));
        Assert.False(await store.TryCompleteAsync("job1", 1, DateTimeOffset.UtcNow, "plan", 1.5, [image]));
        Assert.False(await store.TryRequeueAsync("job1", 1));
        Assert.Empty(await store.RecoverUnfinishedAsync());

        var stored = await store.GetAsync("job1");
        Assert.Equal(JobState.Succeeded, stored!.State);
        Assert.Equal(JobSource.OpenAi, stored.Source);
        Assert.Equal(2.5f, stored.Request.Shift);
        Assert.Equal(3, stored.Request.Seed);
        Assert.Equal([image], stored.Images);
        Assert.Equal(1.5, stored.TotalSeconds);
    }
}
