using System.Runtime.InteropServices;

namespace ZImageSharp.Engine.Native;

/// <summary>
/// Sets variables in the native process environment. On Unix, .NET's Environment.SetEnvironmentVariable only changes
/// a managed copy, which libtorch's getenv never sees.
/// </summary>
internal static partial class NativeEnvironment
{
    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    public static string? Get(string name) => Marshal.PtrToStringUTF8(GetEnv(name));

    public static void Set(string name, string value)
    {
        if (SetEnv(name, value, 1) != 0)
            throw new InvalidOperationException($"setenv({name}) failed.");
        Environment.SetEnvironmentVariable(name, value);
    }
}
