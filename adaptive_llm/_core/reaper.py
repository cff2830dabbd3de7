"""Nothing a command starts outlives it: a child subreaper that kills a command's whole tree.

Standard library only. Used three ways: imported (``run_command`` in the chat), loaded by path
by the local job runner (``jobs/schedulers/_runner.py``, a standalone script), and run as a
script itself, as the small wrapper process that ``run_command`` starts::

    python -I -S reaper.py [KEY=VALUE ...] -- ARGV...   # prints one answer line on stdout

(:func:`wrapper_argv` gives the faster form that imports it from its compiled cache)

(keys: ``timeout``, ``grace``, ``drain``, ``head``, ``tail``, ``cwd``, ``marker``,
``watch_stdin``; the answer is ``key=value`` pairs, see :func:`parse_answer`). As a script it
imports neither ``subprocess`` (which pulls in ``locale`` and ``re``) nor ``json`` nor
``typing``: it starts the command with ``posix_spawn``, and starts in a few milliseconds.

**How.** On Linux the supervising process (the runner, or the wrapper) makes itself a *child
subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``): a descendant whose parent exits -- a child that
calls ``setsid`` and double-forks, ``( cmd & )``, ``nohup cmd &`` -- is re-parented to the
supervisor instead of init. So walking ``/proc`` for the supervisor's descendants (children
of its children, repeatedly) finds every process the command started, whatever session or
process group it moved to. When the command's main process ends, times out or is cancelled,
:func:`kill_tree` freezes that tree (``SIGSTOP``, re-walking until nothing new appears: a
stopped process cannot fork) and then ``SIGKILL``\\ s all of it, until none is left. A process
group alone is not enough: ``setsid`` leaves it.

**Fallback.** Where ``prctl`` or ``/proc`` is unavailable (macOS, other Unixes) only the
command's process group is signalled (``killpg``) plus the descendants still attached to it;
a child that calls ``setsid`` and whose parent exits escapes then.

**Limits.** A process that the command asks *another* service to start (``systemd-run``,
``at``, ``ssh localhost``) is not a descendant; a setuid descendant cannot be signalled (it is
reported as a survivor). A command that SIGKILLs its wrapper orphans its tree to init; the
``run_command`` caller then kills (:func:`kill_marked`) what carries the run's marker
variable, the pids the wrapper reported while it ran (it looks at its tree every 50 ms and
writes ``~seen`` lines ahead of its answer) with their sessions, groups and descendants, and
whatever holds the command's output pipe -- among processes started after the wrapper. What
stays impossible without privileges: a process that empties its environment (``env -i``),
leaves the session (``setsid``), closes the output pipe and has the wrapper SIGKILLed, all
within the 50 ms before the wrapper's next look, is found by nothing (a same-uid command can
always kill its supervisor). Cgroups or a PID namespace would close these gaps; this needs
no privileges.

**Ending.** After the main process ended, the subreaper kills and reaps until the kernel says
it has no child left (:func:`clear_children`), not until one walk of ``/proc`` finds nothing:
a walk reads the table one process at a time and missed a child forked by a parent that was
already a zombie when read (``(setsid sh -c 'setsid cmd &' &)``), which then outlived the
wrapper.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import stat
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing, json and re cost the wrapper's start-up more than all the rest
    from collections.abc import Callable, Iterable
    from typing import Protocol

    class Child(Protocol):
        """A started process: ``subprocess.Popen`` or :class:`Spawned`."""

        @property
        def pid(self) -> int: ...

        def poll(self) -> int | None: ...


__all__ = [
    "ENV_MARKER",
    "HeadTail",
    "Outcome",
    "become_subreaper",
    "clear_children",
    "descendants",
    "kill_marked",
    "kill_tree",
    "parse_answer",
    "parse_report",
    "reap",
    "start_time",
    "supervise",
    "wrapper_argv",
]

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
#: ``fcntl(F_SETPIPE_SZ)``: a 1 MiB pipe means fewer wake-ups for a command that prints a lot.
_F_SETPIPE_SZ = 1031
#: The environment variable that marks every process of one ``run_command`` run.
ENV_MARKER = "ADAPTIVE_LLM_RUN"


def _prctl(option: int, arg: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        ulong = ctypes.c_ulong
        result = libc.prctl(ctypes.c_int(option), ulong(arg), ulong(0), ulong(0), ulong(0))
    except (OSError, AttributeError):
        return False
    return bool(result == 0)


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants; False where unsupported
    (then only the command's process group can be ended)."""
    return os.path.isdir("/proc/self") and _prctl(PR_SET_CHILD_SUBREAPER, 1)


# -- the process table --------------------------------------------------------------------------


def _stat(pid: str) -> tuple[int, int, bytes] | None:
    """(ppid, pgid, state) of ``pid`` from ``/proc/<pid>/stat``; None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 3:
        return None
    return int(fields[1]), int(fields[2]), fields[0]


def _stat_fields(pid: str) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None when it
    is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # "pid (comm) S ppid pgrp ..." -- comm may contain spaces and parentheses.
    return data.rpartition(b")")[2].split()


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot; with the pid, a process's identity);
    None when it is gone."""
    fields = _stat_fields(str(pid))
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def _table() -> dict[int, tuple[int, int, bytes]]:
    """pid -> (ppid, pgid, state) of every process (empty without ``/proc``)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    table: dict[int, tuple[int, int, bytes]] = {}
    for name in names:
        if name.isdigit() and (entry := _stat(name)) is not None:
            table[int(name)] = entry
    return table


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, pgid) of every live descendant of ``root`` (zombies left out), parents first."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: list[tuple[int, int]] = []
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            if pid == root:
                continue
            _, pgid, state = table[pid]
            if state not in (b"Z", b"X"):
                found.append((pid, pgid))
            todo.append(pid)
    return found


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_tree(root: int, sig: int, group: int | None = None) -> None:
    """Send ``sig`` to process group ``group`` (at once) and to every descendant of ``root``
    outside it (those that moved to a session or group of their own)."""
    if group is not None:
        _killpg(group, sig)
    _signal((pid for pid, pgid in descendants(root) if pgid != group), sig)


def _settle(root: int, group: int, within: float = 0.25) -> None:
    """Wait (at most ``within`` seconds) for the members of process group ``group`` below
    ``root`` to finish dying from the SIGTERM sent to the group: a shell's ``sleep`` that
    takes a moment longer than the shell is the command itself, not a process it left."""
    until = time.monotonic() + within
    while any(pgid == group for _, pgid in descendants(root)):
        if time.monotonic() >= until:
            return
        time.sleep(0.005)


def kill_tree(root: int, *, timeout: float = 3.0) -> tuple[set[int], list[int]]:
    """SIGKILL every descendant of ``root`` (not ``root``): (pids killed, pids that survived).

    Each round freezes the tree first (SIGSTOP to what it finds, walking again until nothing
    new appears, so a process that forks or respawns its children cannot outrun the kill),
    then kills all of it at once; rounds repeat until no live descendant is left or
    ``timeout`` seconds passed. Zombies count as gone; this function reaps nothing.
    """
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    while True:
        found = {pid for pid, _ in descendants(root)}
        if not found:
            return killed, []
        if time.monotonic() > deadline:
            return killed, sorted(found)
        if found <= killed:
            time.sleep(0.002)  # killed already and still exiting (or unkillable): look again
        stopped: set[int] = set()
        while (fresh := found - stopped) and time.monotonic() <= deadline:
            _signal(fresh, signal.SIGSTOP)
            stopped |= fresh
            found = {pid for pid, _ in descendants(root)}
        _signal(stopped | found, signal.SIGKILL)
        killed |= stopped | found


def kill_marked(
    marker: str,
    *,
    timeout: float = 3.0,
    seen: dict[int, int] | None = None,
    pipe: int | None = None,
    since: int | None = None,
) -> int:
    """SIGKILL what is left of a run whose supervisor died (its tree was re-parented to
    init); how many processes. A last resort, so it casts every net it has:

    * every process of this user whose environment has ``ENV_MARKER=marker``;
    * and, among the processes started at or after ``since`` (a :func:`start_time`, the
      supervisor's): the pids of ``seen`` (pid -> start time, as the supervisor reported
      them) whose start time still matches, every process in a session or process group one
      of them leads, every process that holds the pipe of inode ``pipe`` open (the command's
      output), and every descendant of all these.

    ``env -i`` empties the environment, ``setsid`` leaves the session, ``exec >&-`` closes
    the pipe: a process that did all three before the supervisor saw it, then killed the
    supervisor, is found by none of these (see the module's *Limits*).
    """
    needle = f"{ENV_MARKER}={marker}".encode()
    seen = seen or {}
    link = f"pipe:[{pipe}]" if pipe is not None else None
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    me = os.getpid()
    while time.monotonic() < deadline:
        table: dict[int, list[bytes]] = {}
        with contextlib.suppress(OSError):
            for name in os.listdir("/proc"):
                if name.isdigit() and (fields := _stat_fields(name)) and len(fields) > 19:
                    table[int(name)] = fields
        found: set[int] = set()
        leaders = set(seen)
        for pid, fields in table.items():
            if pid == me or fields[0] in (b"Z", b"X"):
                continue
            if _environ_has(pid, needle):
                found.add(pid)
                continue
            started = int(fields[19])
            if since is None or started < since:
                continue
            if (
                seen.get(pid) == started
                or int(fields[2]) in leaders
                or int(fields[3]) in leaders
                or (link is not None and _holds(pid, link))
            ):
                found.add(pid)
        # ... and their descendants (a child that moved out of their session and group)
        children: dict[int, list[int]] = {}
        for pid, fields in table.items():
            children.setdefault(int(fields[1]), []).append(pid)
        todo = list(found)
        while todo:
            for pid in children.get(todo.pop(), ()):
                if pid not in found and pid != me and table[pid][0] not in (b"Z", b"X"):
                    found.add(pid)
                    todo.append(pid)
        if not found:
            break
        _signal(found, signal.SIGSTOP)
        _signal(found, signal.SIGKILL)
        killed |= found
        time.sleep(0.005)
    return len(killed)


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return needle in fh.read().split(b"\0")
    except OSError:
        return False


def _holds(pid: int, link: str) -> bool:
    """Whether ``pid`` has a descriptor open on ``link`` (``pipe:[inode]``)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == link:
                return True
    return False


def _has_children() -> bool:
    """Whether this process has any child at all, live or not yet reaped (exact: the kernel
    says so, no walk of ``/proc``)."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return bool(descendants(os.getpid()))
    try:
        waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def clear_children(*, timeout: float = 3.0) -> tuple[set[int], list[int]]:
    """Kill and reap every descendant of this process, a subreaper whose main child was
    collected already: (pids killed, pids that survived).

    Ends only when the kernel says this process has no child left (:func:`_has_children`),
    not when one walk of ``/proc`` found nothing: a walk reads the table one process at a
    time, and a process forked just after the listing by a parent that then exited (a
    zombie, which has no live process to freeze) is in no walk at all, yet is re-parented
    here at once. Every descendant hangs below a child of this subreaper, so "no child"
    means "no descendant"; each round reaps the zombies, which brings their orphans up.
    """
    deadline = time.monotonic() + timeout
    me = os.getpid()
    killed: set[int] = set()
    while True:
        reap()
        if not _has_children():
            return killed, []
        left = deadline - time.monotonic()
        more, survivors = kill_tree(me, timeout=max(0.0, left))
        killed |= more
        if left <= 0 or survivors:
            reap()
            return killed, survivors or sorted(pid for pid, _ in descendants(me))
        if not more:
            time.sleep(0.001)  # only zombies, or a child still exiting: reap and look again


def _tree(root: int) -> list[int]:
    """The pids below ``root`` from ``/proc/<pid>/task/<tid>/children`` (cheap: only the
    tree is read, not the whole table); best effort, for reports, not for kills."""
    found: list[int] = []
    known = {root}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            for word in data.split():
                child = int(word)
                if child not in known:
                    known.add(child)
                    found.append(child)
                    todo.append(child)
    return found


def reap(keep: int | None = None) -> None:
    """Collect exited children (orphans re-parented to a subreaper) without blocking. Never
    collects ``keep`` (the main child, whose status its ``Popen`` must read); stops early
    when ``keep`` is the next one waiting."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return
    while True:
        try:
            info = waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid in (0, keep):
            return
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            return


# -- supervising one command --------------------------------------------------------------------


class HeadTail:
    """The first ``head`` and the last ``tail`` bytes of a stream, and how many went by.

    Memory stays bounded by ``head + tail`` plus one chunk, whatever the stream's size.
    """

    def __init__(self, head: int, tail: int) -> None:
        self.head_limit, self.tail_limit = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data or self.tail_limit <= 0:
            return
        if len(data) >= self.tail_limit:
            self.tail[:] = data[-self.tail_limit :]
        else:
            self.tail += data
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def cut(self) -> int:
        """Bytes that are in neither the head nor the tail."""
        return self.total - len(self.head) - len(self.tail)


class Outcome:
    """How a supervised command ended."""

    __slots__ = ("leftovers", "pipe_held", "returncode", "stopped", "survivors", "timed_out")

    def __init__(
        self,
        returncode: int,
        timed_out: bool,
        stopped: bool,
        leftovers: int,
        survivors: list[int],
        pipe_held: bool,
    ) -> None:
        self.returncode = returncode
        #: The time limit was reached (SIGTERM sent, SIGKILL after the grace period).
        self.timed_out = timed_out
        #: ``should_stop`` said so, or the watched descriptor closed (SIGTERM, then SIGKILL).
        self.stopped = stopped
        #: Processes killed besides the main one (left running when it ended, or at the limit).
        self.leftovers = leftovers
        #: Descendants still alive after the kill (not ours to signal: setuid, another user).
        self.survivors = survivors
        #: The output pipe was still open after the bounded drain (a holder outside the tree).
        self.pipe_held = pipe_held


def _pidfd(pid: int) -> int | None:
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        return None


class Spawned:
    """A command started with ``posix_spawn`` in a session of its own (what the wrapper uses
    instead of ``subprocess``): ``pid`` and ``poll()`` as on a ``Popen``."""

    def __init__(self, argv: list[str], env: dict[str, str], output: int) -> None:
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            self.pid = os.posix_spawnp(
                argv[0],
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, output, 1),
                    (os.POSIX_SPAWN_DUP2, output, 2),
                ],
                setsid=True,
                # Python ignores SIGPIPE and SIGXFSZ; a command expects the defaults (as
                # subprocess's restore_signals does), and no blocked signal.
                setsigdef=[signal.SIGPIPE, signal.SIGXFSZ],
                setsigmask=[],
            )
        finally:
            os.close(devnull)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def supervise(
    child: Child,
    *,
    timeout: float | None,
    grace: float,
    subreaper: bool,
    should_stop: Callable[[], bool] = lambda: False,
    output: int | None = None,
    sink: Callable[[bytes], None] | None = None,
    watch: int | None = None,
    drain: float = 0.5,
    batch: float = 0.0,
    tick: float = 0.1,
    observe: Callable[[list[int]], None] | None = None,
    observe_every: float = 0.05,
) -> Outcome:
    """Wait for ``child`` (started in a session of its own) and leave nothing of it behind.

    At ``timeout`` seconds, or when ``should_stop()`` or ``watch`` (a descriptor; its EOF means
    the caller is gone) says so: SIGTERM to the child's group and all its descendants, SIGKILL
    to the whole tree ``grace`` seconds later. When the child exits: every descendant left is
    killed (as SLURM ends a job's processes). ``output`` (a pipe's read end) is read as it
    comes into ``sink``; after the child ended it is drained for at most ``drain`` seconds, so
    a process that escaped with the pipe never extends the wait. With ``batch`` seconds, a
    wake-up that found less than 1 MiB waits that long before reading again, so a command
    printing a lot fills the pipe between reads (use it with a 1 MiB pipe). Orphans
    re-parented to this process are reaped as they exit. With ``observe`` (and a subreaper),
    every ``observe_every`` seconds the pids that joined the tree since the last look are
    passed to it (the wrapper reports them to its caller, which can still end them if the
    command kills the wrapper).
    """
    me = os.getpid()
    start = time.monotonic()
    deadline = start + timeout if timeout is not None else None
    selector = selectors.DefaultSelector()
    if output is not None:
        os.set_blocking(output, False)
        selector.register(output, selectors.EVENT_READ, "output")
    if watch is not None:
        selector.register(watch, selectors.EVENT_READ, "watch")
    pidfd = _pidfd(child.pid)
    if pidfd is not None:
        selector.register(pidfd, selectors.EVENT_READ, "exit")
    output_open = output is not None
    caller_gone = timed_out = stopped = False
    term_sent = False
    kill_at: float | None = None
    next_poll = start + tick
    observing = observe is not None and subreaper
    next_observe = start
    observed: set[int] = set()
    killed: set[int] = set()
    survivors: list[int] = []

    def read_output() -> int:
        """Read what is there (at most 64 MiB, then look at the clock again); how much."""
        nonlocal output_open
        assert output is not None
        got = 0
        for _ in range(64):
            try:
                data = os.read(output, 1 << 20)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                output_open = False
                selector.unregister(output)
                break
            got += len(data)
            if sink is not None:
                sink(data)
        return got

    try:
        returncode = child.poll()
        while returncode is None:
            now = time.monotonic()
            if not term_sent and (
                caller_gone or should_stop() or (deadline is not None and now >= deadline)
            ):
                stopped = caller_gone or should_stop()
                timed_out = not stopped
                term_sent = True
                signal_tree(me, signal.SIGTERM, group=child.pid)
                kill_at = now + grace
            elif kill_at is not None and now >= kill_at:
                more, survivors = kill_tree(me)
                killed |= more
                _killpg(child.pid, signal.SIGKILL)
                kill_at = now + 1.0  # again in a second if the child still has not died
            if observing and now >= next_observe:
                assert observe is not None
                current = set(_tree(me))
                if fresh := current - observed:
                    observe(sorted(fresh))
                observed = current
                next_observe = now + observe_every
            wait = tick
            limits = (deadline if not term_sent else None, kill_at)
            for limit in (*limits, next_observe if observing else None):
                if limit is not None:
                    wait = min(wait, max(0.0, limit - now))
            exited = pidfd is None or now >= next_poll
            for key, _ in selector.select(wait):
                if key.data == "output":
                    if 0 < read_output() < 1 << 20 and batch:
                        time.sleep(batch)
                elif key.data == "exit":
                    exited = True
                elif key.data == "watch":
                    try:
                        data = os.read(key.fd, 4096)
                    except OSError:
                        data = b""
                    if not data:
                        caller_gone = True
                        selector.unregister(key.fd)
            if exited:  # with a pidfd, no system call per wake-up until it says so (or a tick)
                returncode = child.poll()
                if subreaper:
                    reap(keep=child.pid)
                next_poll = now + tick

        if term_sent:  # the group's members got the SIGTERM too: they are the command
            _settle(me, child.pid)
        # The command ended: whatever it left behind goes too (and is reaped).
        if subreaper:
            # Counted first (the group's members are descendants too), then the group.
            more, survivors = clear_children()
            killed |= more
            _killpg(child.pid, signal.SIGKILL)
        else:
            if os.path.isdir("/proc/self"):
                more, survivors = kill_tree(me)
                killed |= more
            _killpg(child.pid, signal.SIGKILL)
        if output_open:
            if pidfd is not None:
                selector.unregister(pidfd)
            if watch is not None and not caller_gone:
                selector.unregister(watch)  # the caller waits for the drain's bounded end
            drain_until = time.monotonic() + drain
            while output_open and (left := drain_until - time.monotonic()) > 0:
                if selector.select(left):
                    read_output()
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
    killed.discard(child.pid)
    return Outcome(returncode, timed_out, stopped, len(killed), survivors, output_open)


# -- the run_command wrapper (run as a script) --------------------------------------------------


def wrapper_argv() -> list[str]:
    """The command line of the wrapper, to which ``KEY=VALUE ... -- ARGV...`` is added.

    This file is imported as a module (from its compiled ``__pycache__``) rather than run as
    a script, which would be compiled again at each start."""
    here = os.path.dirname(os.path.abspath(__file__))
    boot = (
        f"import sys; sys.path.insert(0, {here!r}); from reaper import main;"
        " sys.exit(main(sys.argv))"
    )
    return [sys.executable, "-I", "-S", "-c", boot]


def parse_answer(line: bytes) -> dict[str, str]:
    """The wrapper's answer line as text fields (``head``, ``tail``, ``error`` are hex)."""
    fields: dict[str, str] = {}
    for pair in line.decode("ascii").split():
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"not a key=value pair: {pair[:40]!r}")
        fields[key] = value
    return fields


def _answer(fields: dict[str, object]) -> bytes:
    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, bytes | bytearray):
            return bytes(value).hex()
        if isinstance(value, list):
            return ",".join(map(str, value))
        return str(value)

    # On a line of its own even after bytes that a command wrote into the wrapper's stdout.
    return (
        "\n" + " ".join(f"{key}={text(value)}" for key, value in fields.items()) + "\n"
    ).encode()


def _wrapper(options: dict[str, str], argv: list[str]) -> dict[str, object]:
    stop: list[bool] = []

    def on_signal(signum: int, frame: object) -> None:
        stop.append(True)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    subreaper = become_subreaper()
    # Not dumpable: a command cannot open /proc/<wrapper>/fd/1 and write into the caller's
    # pipe (root still can; the caller reads only the last line).
    _prctl(PR_SET_DUMPABLE, 0)
    watch: int | None = None
    if options.get("watch_stdin") == "1":
        with contextlib.suppress(OSError):
            if stat.S_ISFIFO(os.fstat(0).st_mode):
                watch = 0
    read_end, write_end = os.pipe()
    pipe_size = 0
    with contextlib.suppress(OSError):
        import fcntl

        pipe_size = fcntl.fcntl(read_end, _F_SETPIPE_SZ, 1 << 20)
    env = dict(os.environ)
    if options.get("marker"):
        env[ENV_MARKER] = options["marker"]
    started = time.monotonic()
    try:
        if options.get("cwd"):
            os.chdir(options["cwd"])  # the wrapper's own: posix_spawn has no cwd argument
        child = Spawned(argv, env, write_end)
    except OSError as exc:
        return {"error": f"cannot start the command: {exc.strerror or exc}".encode()}
    finally:
        os.close(write_end)
    capture = HeadTail(int(options.get("head", 4000)), int(options.get("tail", 4000)))
    timeout = options.get("timeout")
    report = options.get("report") == "1"
    if report:  # what the caller needs to end the tree should this wrapper be killed
        with contextlib.suppress(OSError):
            _say(f"pipe={os.fstat(read_end).st_ino} {child.pid}:{start_time(child.pid) or 0}")

    def observe(pids: list[int]) -> None:
        _say(" ".join(f"{pid}:{start_time(pid) or 0}" for pid in pids))

    try:
        outcome = supervise(
            child,
            timeout=float(timeout) if timeout else None,
            grace=float(options.get("grace", 1.0)),
            subreaper=subreaper,
            should_stop=lambda: bool(stop),
            output=read_end,
            sink=capture.feed,
            watch=watch,
            drain=float(options.get("drain", 0.5)),
            batch=0.001 if pipe_size >= 1 << 20 else 0.0,
            observe=observe if report else None,
        )
    finally:
        os.close(read_end)
    code = outcome.returncode
    return {
        "exit_code": code if code >= 0 else None,
        "signal": -code if code < 0 else None,
        "timed_out": outcome.timed_out,
        "cancelled": outcome.stopped,
        "total": capture.total,
        "leftovers": outcome.leftovers,
        "survivors": outcome.survivors,
        "pipe_held": outcome.pipe_held,
        "subreaper": subreaper,
        "seconds": round(time.monotonic() - started, 3),
        "head": capture.head,
        "tail": capture.tail,
    }


#: The prefix of the wrapper's report lines (the answer line never starts with it).
REPORT = "~seen "


def _say(text: str) -> None:
    """One report line on stdout, ahead of the answer: ``~seen pipe=INODE PID:START ...``."""
    with contextlib.suppress(OSError):
        os.write(1, f"\n{REPORT}{text}\n".encode())


def parse_report(line: bytes) -> tuple[dict[int, int], int | None]:
    """(pid -> start time, pipe inode) from one report line; empty for any other line."""
    seen: dict[int, int] = {}
    pipe: int | None = None
    if not line.startswith(REPORT.encode()):
        return seen, pipe
    for word in line[len(REPORT) :].decode("ascii", "replace").split():
        key, sep, value = word.partition("=")
        with contextlib.suppress(ValueError):
            if sep and key == "pipe":
                pipe = int(value)
            elif not sep:
                pid, _, started = word.partition(":")
                seen[int(pid)] = int(started)
    return seen, pipe


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: reaper.py [KEY=VALUE ...] -- ARGV...", file=sys.stderr)
        return 2
    split = argv.index("--")
    options = dict(arg.partition("=")[::2] for arg in argv[1:split])
    data = _answer(_wrapper(options, argv[split + 1 :]))
    while data:
        try:
            data = data[os.write(1, data) :]
        except BrokenPipeError:
            return 1  # the caller is gone
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
