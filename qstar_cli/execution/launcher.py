"""The sandbox launcher: a stdlib-only script that sets a program's cage up, runs it, and cleans up.

`sandbox.py` starts it (never imports it) as `python -I -S launcher.py CONFIG_JSON`, either as PID 1
of fresh pid/mount/network/ipc/uts namespaces made by `unshare` (as root), or as a plain session
leader (the `process` fallback). It then:

1. (namespaces) makes every mount read-only except a small tmpfs work dir, hides the first
   directory on the interpreter's path that other users may not enter (e.g. /root) under an
   empty tmpfs with only the interpreter bound back in, so the program sees no home directory;
2. forks the program: rlimits (CPU, address space, processes, file size, open files, no core),
   output fds on 1 and 2, an unprivileged uid when we are root, cwd = the work dir, a minimal
   environment, then exec of the interpreter (no code of the program runs before that exec);
3. waits, then kills every process the program left behind (as PID 1: kill(-1) reaches the whole
   namespace; otherwise as a child subreaper it adopts and kills orphans, setsid'd ones included);
4. prints one JSON line {"exit": code | null, "signal": n | null, "error": setup error | null}.
"""

import ctypes
import json
import os
import re
import resource
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _mountinfo():
    """(mount point, per-mount option flags) for every mount visible here, parents first."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            # mount points escape spaces and the like as octal (\040)
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            flags = sum(MOUNT_FLAGS.get(opt, 0) for opt in fields[5].split(","))
            mounts.append((point, flags))
    return mounts


def _hide_home(prefix):
    """Cover the first directory on `prefix`'s path that others may not enter with an empty
    tmpfs, and bind `prefix` (the interpreter's install) back in at the same path."""
    parts = prefix.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        directory = "/" + "/".join(parts[:i])
        if not os.stat(directory).st_mode & 0o001:
            # hold the prefix open: once the tmpfs covers `directory`, its path leads nowhere
            keep = os.open(prefix, os.O_PATH | os.O_DIRECTORY)
            _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
            os.makedirs(prefix, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{keep}", prefix, None, MS_BIND | MS_REC)
            os.close(keep)
            return directory
    return None


def isolate_filesystem(cfg):
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    work = cfg["workdir"]
    _mount(
        "tmpfs",
        work,
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        f"size={cfg['work_mb']}m,nr_inodes=4096,mode=0700,uid={cfg['uid'] or 0},gid={cfg['uid'] or 0}",
    )
    _hide_home(cfg["prefix"])
    for point, flags in _mountinfo():
        if point == work or not os.path.isdir(point):
            continue
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            # a mount hidden under another one cannot be reached; anything else fails closed
            if os.path.ismount(point):
                raise


def _run_child(cfg):
    os.dup2(cfg["stdout_fd"], 1)
    os.dup2(cfg["stderr_fd"], 2)
    os.closerange(3, 65536)
    limits = cfg["limits"]
    for name, soft, hard in (
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_CPU", limits["cpu"], limits["cpu"] + 1),
        ("RLIMIT_AS", limits["as"], limits["as"]),
        ("RLIMIT_NPROC", limits["nproc"], limits["nproc"]),
        ("RLIMIT_FSIZE", limits["fsize"], limits["fsize"]),
        ("RLIMIT_NOFILE", limits["nofile"], limits["nofile"]),
    ):
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if cfg["uid"] is not None:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    os.chdir(cfg["workdir"])
    os.execve(cfg["python"], [cfg["python"], "-I", "-S", "-B", cfg["program"]], cfg["env"])


def _orphans():
    """Pids whose parent is this process (orphans re-parented to us as subreaper)."""
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
                if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                    found.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def _kill_leftovers(pid1):
    """Kill and reap whatever the program left running; each blocking wait returns once one of
    them is dead, and the loop ends when no child is left (ECHILD)."""
    while True:
        if pid1:
            try:
                os.kill(-1, signal.SIGKILL)  # from PID 1: every other process of the namespace
            except ProcessLookupError:
                pass
        else:
            for pid in _orphans():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main():
    cfg = json.loads(sys.argv[1])
    pid1 = os.getpid() == 1
    report = {"exit": None, "signal": None, "error": None}
    try:
        if pid1:
            isolate_filesystem(cfg)
        else:
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError as exc:
        report["error"] = f"sandbox setup failed: {exc}"
        print(json.dumps(report), flush=True)
        return
    pid = os.fork()
    if pid == 0:
        try:
            _run_child(cfg)
        except BaseException as exc:  # report any exec/setup failure, then die
            os.write(
                2, f"qstar sandbox: could not start the program: {exc!r} {getattr(exc, 'filename', '')}\n".encode()
            )
        os._exit(127)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        report["signal"] = os.WTERMSIG(status)
    else:
        report["exit"] = os.WEXITSTATUS(status)
    _kill_leftovers(pid1)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
