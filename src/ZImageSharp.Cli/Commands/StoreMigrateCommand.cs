using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using ZImageSharp.Server.Store;

namespace ZImageSharp.Cli.Commands;

/// <summary><c>zimage store migrate --from sqlite:zimage-data/history.db --to postgres://…</c>: moves a single
/// server's history into the shared store (docs/scale-out.md).</summary>
internal sealed class StoreMigrateCommand : AsyncCommand<StoreMigrateCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--from <SOURCE>")]
        [Description("The SQLite history: sqlite:PATH or a path to history.db (default sqlite:zimage-data/history.db).")]
        public string From { get; init; } = "sqlite:zimage-data/history.db";

        [CommandOption("--to <STORE>")]
        [Description("The PostgreSQL store: postgres://user:password@host:5432/database.")]
        public string? To { get; init; }

        public string SqlitePath => From.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase) ? From["sqlite:".Length..] : From;

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(To)) return ValidationResult.Error("--to: give the PostgreSQL store, postgres://user:password@host:5432/database.");
            if (!StoreLocation.IsPostgres(To)) return ValidationResult.Error($"--to: '{StoreLocation.Redact(To)}' is not a PostgreSQL connection (postgres://user:password@host:5432/database).");
            return base.Validate();
        }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        try
        {
            var result = await StoreMigration.FromSqliteAsync(Path.GetFullPath(settings.SqlitePath), settings.To!);
            AnsiConsole.MarkupLineInterpolated(
                $"copied {result.Copied} job(s) to {StoreLocation.Redact(settings.To!)}; {result.AlreadyThere} were there already; {result.Requeued} unfinished job(s) arrive queued.");
            AnsiConsole.MarkupLine("[grey]Images are not moved: give the servers --images-dir pointing at the old images/ folder, or copy it to the shared one.[/]");
            return 0;
        }
        catch (Exception e) when (e is FileNotFoundException or FormatException or Npgsql.NpgsqlException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return ErrorReporter.UsageError;
        }
    }
}
