namespace ZImageSharp.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("zimage: commands are being built; see README.md.");
        return 2;
    }
}
