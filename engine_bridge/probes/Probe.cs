// Conformance probe of the C# reader (ConrtBridge.cs): NAME [--pause] [--geometry].
// Prints "open OK W H FRAMEBYTES" or "open ERR message"; with --pause waits for
// a line on stdin (the caller changes the segment); then "read OK|NONE|ERR ..."
// and "pose OK|ERR ...". --geometry: stop after "open". Used by engine_bridge/conformance.py.
//   mcs -out:probe.exe ../csharp/ConrtBridge.cs Probe.cs
using System;
using Conrt;

static class Probe
{
    static int Main(string[] args)
    {
        ConrtBridge b;
        try { b = new ConrtBridge(args[0]); }
        catch (Exception e) { Console.WriteLine("open ERR " + e.GetType().Name + ": " + e.Message); return 0; }
        using (b)
        {
            Console.WriteLine("open OK " + b.Width + " " + b.Height + " " + b.FrameBytes);
            if (Array.IndexOf(args, "--geometry") >= 0) return 0;
            if (Array.IndexOf(args, "--pause") >= 0) Console.ReadLine();
            try
            {
                FrameInfo info;
                Console.WriteLine(b.TryReadFrame(new byte[b.FrameBytes], out info) ? "read OK" : "read NONE");
            }
            catch (Exception e) { Console.WriteLine("read ERR " + e.GetType().Name + ": " + e.Message); }
            try { b.SendPose(null, 0, null, null); Console.WriteLine("pose OK"); }
            catch (Exception e) { Console.WriteLine("pose ERR " + e.GetType().Name + ": " + e.Message); }
        }
        return 0;
    }
}
