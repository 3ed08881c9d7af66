using System.Data.Common;
using System.Text.Json;
using ZImageSharp.Contracts;

namespace ZImageSharp.Server.Jobs;

/// <summary>
/// One job row as both stores select it (SQLite's <see cref="JobStore"/>, PostgreSQL's <c>PostgresJobStore</c>), in
/// this column order: seq, id, state, source, request, created_at, started_at, finished_at, attempt, plan_summary,
/// total_seconds, error_code, error_phase, error_message, weights; image columns, where selected, follow from
/// <see cref="FirstImageColumn"/>. Only the way a time is stored differs, so the store passes how to read one.
/// </summary>
internal static class JobRows
{
    public const int FirstImageColumn = 15;

    public static JobRecord Read(DbDataReader reader, Func<DbDataReader, int, DateTimeOffset> time, string storeName) => new()
    {
        Sequence = reader.GetInt64(0),
        Id = reader.GetString(1),
        State = JobStateExtensions.ParseState(reader.GetString(2)),
        Source = Enum.Parse<JobSource>(reader.GetString(3)),
        Request = JsonSerializer.Deserialize<GenerationRequest>(reader.GetString(4), JobStore.RequestJson)
                  ?? throw new InvalidDataException($"The {storeName} holds a job without a request."),
        CreatedAt = time(reader, 5),
        StartedAt = reader.IsDBNull(6) ? null : time(reader, 6),
        FinishedAt = reader.IsDBNull(7) ? null : time(reader, 7),
        Attempt = reader.GetInt32(8),
        PlanSummary = reader.IsDBNull(9) ? null : reader.GetString(9),
        TotalSeconds = reader.IsDBNull(10) ? null : reader.GetDouble(10),
        Error = reader.IsDBNull(11) ? null
            : new JobError(reader.GetString(11), reader.IsDBNull(12) ? null : reader.GetString(12), reader.IsDBNull(13) ? "" : reader.GetString(13)),
        Weights = reader.IsDBNull(14) ? null : reader.GetString(14),
    };

    /// <summary>The image of a row, or null for a job row without images (the LEFT JOIN's empty side).</summary>
    public static JobImage? Image(DbDataReader reader)
    {
        const int c = FirstImageColumn;
        return reader.IsDBNull(c) ? null
            : new JobImage(reader.GetInt32(c), reader.GetInt64(c + 1), reader.GetInt32(c + 2), reader.GetInt32(c + 3), reader.GetString(c + 4));
    }
}
