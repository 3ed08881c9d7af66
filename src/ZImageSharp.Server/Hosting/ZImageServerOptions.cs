using System.ComponentModel.DataAnnotations;

namespace ZImageSharp.Server.Hosting;

/// <summary>Server settings, bound from the <c>ZImage:Server</c> section: appsettings.json,
/// <c>ZIMAGE__SERVER__QUEUECAPACITY=32</c> style environment variables, or <c>--ZImage:Server:QueueCapacity=32</c>.</summary>
public sealed class ZImageServerOptions
{
    public const string SectionName = "ZImage:Server";

    /// <summary>Jobs that may wait for a worker (running jobs not counted); one more gets 429. Default 16.</summary>
    [Range(1, 100_000)]
    public int QueueCapacity { get; set; } = 16;

    /// <summary>GPUs to drive; one worker each (the host registers one engine per GPU). 0 makes an API-only node,
    /// which needs a shared <see cref="Store"/>. Default 1.</summary>
    [Range(0, 64)]
    public int GpuCount { get; set; } = 1;

    /// <summary>Holds history.db (SQLite) and images/. Relative paths resolve against the working directory.
    /// Default <c>zimage-data</c>.</summary>
    [Required(AllowEmptyStrings = false)]
    public string DataDirectory { get; set; } = "zimage-data";

    /// <summary>Where the queue and history live: <c>sqlite</c> (default: history.db in the data folder, one
    /// process) or a PostgreSQL connection, <c>postgres://user:password@host:5432/database</c> or Npgsql's
    /// <c>Host=…;Database=…</c> form, shared by any number of server processes on any number of machines.
    /// docs/scale-out.md.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Store { get; set; } = "sqlite";

    /// <summary>Where finished images are written and read. Default: images/ in the data folder. With a shared
    /// store, every node must see the same folder (an NFS or SMB mount, for example).</summary>
    public string? ImagesDirectory { get; set; }

    /// <summary>Images in an S3-compatible store (AWS S3, MinIO, …) instead of a shared folder: the bucket. With it,
    /// <see cref="ImagesDirectory"/> only caches what this node serves. Set <see cref="S3Endpoint"/> too.</summary>
    public string? S3Bucket { get; set; }

    /// <summary>The store's address, e.g. <c>http://minio.lan:9000</c> or <c>https://s3.eu-west-1.amazonaws.com</c>;
    /// objects are addressed path-style ({endpoint}/{bucket}/{key}).</summary>
    public string? S3Endpoint { get; set; }

    /// <summary>Prepended to every object key, e.g. <c>zimage/</c>. Default none.</summary>
    public string S3Prefix { get; set; } = "";

    /// <summary>The signing region. Default <c>us-east-1</c> (what MinIO expects unless configured otherwise).</summary>
    public string S3Region { get; set; } = "us-east-1";

    /// <summary>Access key; default the AWS_ACCESS_KEY_ID environment variable.</summary>
    public string? S3AccessKey { get; set; }

    /// <summary>Secret key; default the AWS_SECRET_ACCESS_KEY environment variable (prefer it to a command line).</summary>
    public string? S3SecretKey { get; set; }

    /// <summary>This process's name in the fleet (workers are NODE/0, NODE/1, …). Default: machine name and process id.</summary>
    public string? NodeName { get; set; }

    /// <summary>Shared store: a running job's lease. Its worker renews it every third of this; a worker silent for
    /// longer (killed, machine gone) loses the job to the next worker that claims. Default 30 s.</summary>
    [Range(2, 3600)]
    public int LeaseSeconds { get; set; } = 30;

    /// <summary>Largest JSON body accepted by the generation endpoints; larger gets 400. Default 256 KiB
    /// (two prompts at the 8192-character limit in 4-byte UTF-8 need 64 KiB).</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxRequestBodyBytes { get; set; } = 256 * 1024;

    /// <summary>Largest body of an edit request (an init image and a mask as PNGs, base64 in JSON or multipart): A1111's
    /// img2img, OpenAI's images/edits, and a native job that carries init_image. Default 48 MiB (two 2048² PNGs).</summary>
    [Range(1024 * 1024, 256 * 1024 * 1024)]
    public int MaxEditBodyBytes { get; set; } = 48 * 1024 * 1024;

    /// <summary>On shutdown a running job gets this long to finish; after that it is cancelled and re-queued
    /// for the next start. Keep it below the host's ShutdownTimeout. Default 20 s.</summary>
    [Range(0, 3600)]
    public int ShutdownGraceSeconds { get; set; } = 20;

    /// <summary>How long the synchronous APIs (OpenAI, A1111) wait for their job. Default 600 s.</summary>
    [Range(1, 86_400)]
    public int SyncTimeoutSeconds { get; set; } = 600;

    /// <summary>Most jobs one history page returns. Default 100.</summary>
    [Range(1, 10_000)]
    public int MaxHistoryPage { get; set; } = 100;

    /// <summary>API keys, each <c>KEY</c> or <c>full:KEY</c> (may also create, cancel, delete and interrupt) or
    /// <c>read:KEY</c> (may only read). With none, and none in <see cref="ApiKeysFile"/> or ZIMAGE_API_KEYS, the server
    /// needs no key, and then listens to this machine only (<see cref="AllowUnauthenticatedNetwork"/>). docs/server.md.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>A file of API keys, one entry a line as in <see cref="ApiKeys"/>; blank lines and lines starting
    /// with # are skipped. Read at startup.</summary>
    public string? ApiKeysFile { get; set; }

    /// <summary>Host names the server answers to besides loopback names and the address it listens on, for example
    /// <c>gpu.example.com</c> or <c>*.lan</c>; <c>*</c> allows any. Other Host headers get 421 (DNS rebinding).</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Origins besides the server's own whose pages may change state (POST, DELETE), for example
    /// <c>https://gpu.example.com</c> behind a proxy that rewrites the Host header.</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>Serve a non-loopback address without API keys (<c>zimage serve --insecure-no-auth</c>). Without
    /// it, such a server refuses to start. Default false.</summary>
    public bool AllowUnauthenticatedNetwork { get; set; }

    internal string ResolvedDataDirectory => Path.GetFullPath(DataDirectory);

    internal string ResolvedImagesDirectory => Path.GetFullPath(ImagesDirectory ?? Path.Combine(DataDirectory, "images"));

    internal string ResolvedNodeName => string.IsNullOrWhiteSpace(NodeName) ? $"{Environment.MachineName}-{Environment.ProcessId}" : NodeName;

    internal string? ResolvedS3AccessKey => S3AccessKey ?? Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");

    internal string? ResolvedS3SecretKey => S3SecretKey ?? Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");

    internal bool IsSharedStore => !string.Equals(Store, "sqlite", StringComparison.OrdinalIgnoreCase);
}
