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
    public async Task A_history_written_before_the_weights_column_opens_and_keeps_its_jobs()
    {
        string path = Path.Combine(_folder, "old.db");
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            old.Open();
            using var create = old.CreateCommand();
            // The jobs table as the first release wrote it: no weights column.
            create.CommandText = """
                CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, state TEXT NOT NULL,
                    source TEXT NOT NULL, request TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
                    attempt INTEGER NOT NULL DEFAULT 0, plan_summary TEXT, total_seconds REAL, error_code TEXT,
                    error_phase TEXT, error_message TEXT);
                INSERT INTO jobs (id, state, source, request, created_at, finished_at, attempt, plan_summary, total_seconds)
                VALUES ('old1', 'succeeded', 'Native', '{"prompt":"old"}', '2026-11-01T00:00:00.0000000Z',
                        '2026-11-01T00:00:05.0000000Z', 1, 'resident', 5);
                """;
            create.ExecuteNonQuery();
        }

        await using var store = JobStore.Open(path);
        var job = await store.GetAsync("old1");
        Assert.Equal(JobState.Succeeded, job!.State);
        Assert.Equal("old", job.Request.Prompt);
        Assert.Null(job.Weights);
    }

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
        Assert.True(await store.TryCompleteAsync("job1", 1, DateTimeOffset.UtcNow, "plan", 1.5, [image], "fp8 e4m3 (transformer; bf16 compute)"));
        Assert.False(await store.TryCompleteAsync("job1", 1, DateTimeOffset.UtcNow, "plan", 1.5, [image]));
        Assert.False(await store.TryRequeueAsync("job1", 1));
        Assert.Empty(await store.RecoverUnfinishedAsync());

        var stored = await store.GetAsync("job1");
        Assert.Equal(JobState.Succeeded, stored!.State);
        Assert.Equal("fp8 e4m3 (transformer; bf16 compute)", stored.Weights);
        Assert.Equal(JobSource.OpenAi, stored.Source);
        Assert.Equal(2.5f, stored.Request.Shift);
        Assert.Equal(3, stored.Request.Seed);
        Assert.Equal([image], stored.Images);
        Assert.Equal(1.5, stored.TotalSeconds);
    }
}
