// Example engine loop in C#: attach, send poses, read frames, report.
//   mcs -out:example.exe ConrtBridge.cs Example.cs && mono example.exe NAME [FRAMES] [--checksum]
// Prints one line: frames=N dropped=N bad=N matched=0|1 red=N state=alive|stalled|dead
// Exit codes: 0 ok, 1 bad frames, 2 cannot attach / timeout, 3 writer died.
using System;
using System.Diagnostics;
using System.Threading;
using Conrt;

static class Example
{
    static uint[] crcTable = BuildCrcTable();

    static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    static uint Crc32(byte[] data, int count)
    {
        uint c = 0xFFFFFFFFu;
        for (int i = 0; i < count; i++) c = crcTable[(c ^ data[i]) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    static int Main(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: example.exe NAME [FRAMES] [--checksum]"); return 2; }
        int wanted = args.Length > 1 && args[1] != "--checksum" ? int.Parse(args[1]) : 100;
        bool checksum = Array.IndexOf(args, "--checksum") >= 0;
        ConrtBridge bridge;
        try { bridge = ConrtBridge.Connect(args[0], TimeSpan.FromSeconds(30)); }
        catch (Exception e) { Console.Error.WriteLine("cannot attach: " + e.Message); return 2; }
        using (bridge)
        {
            Console.WriteLine("attached " + args[0] + ": " + bridge.Width + "x" + bridge.Height + " format " + bridge.PixelFormat);
            // Three joints in a row in front of an identity camera: the test pattern draws them red.
            var joints = new float[3 * 16];
            for (int j = 0; j < 3; j++)
            {
                joints[j * 16 + 0] = joints[j * 16 + 5] = joints[j * 16 + 10] = joints[j * 16 + 15] = 1;
                joints[j * 16 + 3] = (j - 1) * 0.5f; // translation x (row-major: element [0,3])
            }
            ulong sent = bridge.SendPose(joints, 3, null, null);
            var pixels = new byte[bridge.FrameBytes];
            int frames = 0, bad = 0, red = 0;
            ulong dropped = 0;
            bool matched = false;
            var idle = Stopwatch.StartNew();
            while (frames < wanted || !matched)
            {
                FrameInfo info;
                bool got;
                try { got = bridge.TryReadFrame(pixels, out info); }
                catch (WriterGoneException e) { Console.WriteLine("writer dead: " + e.Message); return 3; }
                if (!got)
                {
                    var state = bridge.State;
                    if (state == ConrtBridge.WriterState.Dead) { Console.WriteLine("writer dead"); return 3; }
                    if (idle.Elapsed > TimeSpan.FromSeconds(30)) { Console.WriteLine("timeout, writer " + state); return 2; }
                    Thread.Sleep(1);
                    continue;
                }
                idle.Restart();
                frames++;
                dropped += info.Dropped;
                if (checksum)
                {
                    int n = pixels.Length;
                    uint count = BitConverter.ToUInt32(pixels, n - 8), crc = BitConverter.ToUInt32(pixels, n - 4);
                    if (crc != Crc32(pixels, n - 8) || count != (uint)info.FrameIndex) bad++;
                }
                if (info.RequestId == sent && !matched && bridge.PixelFormat == ConrtBridge.FormatRGBA8)
                {
                    matched = true;
                    for (int i = 0; i < pixels.Length; i += 4)
                        if (pixels[i] == 255 && pixels[i + 1] == 0 && pixels[i + 2] == 0 && pixels[i + 3] == 255) red++;
                }
            }
            Console.WriteLine("frames=" + frames + " dropped=" + dropped + " bad=" + bad + " matched=" + (matched ? 1 : 0)
                              + " red=" + red + " state=" + bridge.State.ToString().ToLower());
            return bad > 0 ? 1 : 0;
        }
    }
}
