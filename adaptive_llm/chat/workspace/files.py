"""Sandboxed, async file operations inside one workspace root, for the chat agent's tools.

Containment (resolve, then check): a path is taken relative to the root; an absolute path is
accepted only when it lies inside the root (models often echo the root the prompt gave them).
The path is resolved with every symlink followed (``Path.resolve``), and the *real* result must
lie inside the real root, so ``..`` segments and symlinks leading out are refused wherever they
occur, while symlinks from inside to inside work. Refused before resolving: NUL bytes, empty
paths, backslashes (not a separator here; refused rather than guessed), a leading ``~`` (never
expanded), over-long paths. Files are then opened (for reads and writes alike) by walking the
real path from the root one component at a time with ``O_NOFOLLOW``, so a symlink swapped in
after the check is refused, not followed. Writes go to a temporary file in the same directory,
fsynced, then ``os.replace``; an existing file keeps its mode, a new one gets 0o644 minus umask.

An approved edit writes exactly the file that was shown: ``apply`` and ``undo`` walk the path
of the plan (the real path when the change was shown) without resolving it, so a component
that has become a symbolic link since, even one to another file of the workspace, is refused,
as is a file whose content changed (its SHA-256 is checked). Folders created for a new file are
recorded, and undoing the creation removes them again (each only if it is empty).

Deny list (reads and writes, case-insensitive, any component of the real path; the list is in
:mod:`.guard`): the workspace's internal state ``.adaptive_llm/`` (also hidden from listings),
``.git``, the usual homes of credentials (``.ssh``, ``.aws``, ``.kube``, ``.docker``, ...) and
secret-looking files (``.env``, ``*.env``, ``.envrc``, ``*.pem``, ``*.key``, ``id_rsa*``,
``.netrc``, ``.git-credentials``, ``.pypirc``, ``.npmrc``, ``service-account*.json``,
``secrets.y*ml``, ...). Only regular files are read or written:
directories, devices, FIFOs and sockets are refused from ``lstat`` without being opened, and
files are opened with ``O_NONBLOCK | O_NOFOLLOW`` and checked again with ``fstat``.

Every refusal is a ``WorkspaceError`` whose message is meant for the model and the user alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import aiofiles

from ..._core.units import format_size as _human
from .guard import WorkspaceError
from .guard import denied as _denied
from .guard import show as _show
from .plans import AppliedEdit as AppliedEdit
from .plans import EditPlan as EditPlan
from .plans import diff as _diff
from .plans import sha as _sha
from .search import compile_pattern, search_tree

__all__ = ["AppliedEdit", "EditPlan", "Workspace", "WorkspaceError"]

_STALE = "'{}' changed since the edit was proposed; read it again"
#: Bytes read at a time by ``read_file``.
READ_CHUNK = 1 << 20


class Workspace:
    """File operations contained in ``root`` (see the module docstring for the rules)."""

    def __init__(
        self,
        root: str | Path,
        *,
        max_read_bytes: int = 1 << 20,
        max_write_bytes: int = 1 << 20,
        max_search_matches: int = 200,
        max_list_entries: int = 500,
    ) -> None:
        self.root = Path(root).resolve(strict=True)
        if not self.root.is_dir():
            raise WorkspaceError(f"workspace root {self.root} is not a directory")
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.max_search_matches = max_search_matches
        self.max_list_entries = max_list_entries

    # -- containment ---------------------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The real path for ``path``, or ``WorkspaceError`` if it is not allowed."""
        if not isinstance(path, str):
            raise WorkspaceError(f"path must be a string, not {type(path).__name__}")
        if "\x00" in path:
            raise WorkspaceError(f"path {path!r} contains a NUL byte: refused")
        if not path.strip():
            raise WorkspaceError("empty path: give a path relative to the workspace")
        if "\\" in path:
            raise WorkspaceError(f"path {path!r} contains a backslash; use '/' as the separator")
        if path == "~" or path.startswith("~/"):
            raise WorkspaceError(f"path {path!r}: '~' is not expanded; give a workspace path")
        try:
            raw = os.fsencode(path)
        except UnicodeError:
            raise WorkspaceError(f"path {path!r} cannot be encoded as a file name") from None
        if len(raw) > 4000 or any(len(part) > 255 for part in raw.split(b"/")):
            raise WorkspaceError(f"path {path[:60]!r}... is too long")
        return self.contained(self.root / path, path)  # an absolute path replaces the root

    def contained(self, lexical: Path, path: str) -> Path:
        """``lexical`` resolved, if it lies inside the root and is not denied."""
        try:
            real = lexical.resolve(strict=False)
        except (OSError, RuntimeError, ValueError) as exc:
            raise WorkspaceError(f"path {path!r} cannot be resolved: {exc}") from None
        if not real.is_relative_to(self.root):
            raise WorkspaceError(f"path {path!r} is outside the workspace {self.root}")
        _refuse_denied(real.relative_to(self.root).parts, path)
        return real

    def rel(self, real: Path) -> str:
        """The path shown for ``real``: relative to the root."""
        return real.relative_to(self.root).as_posix() or "."

    def _file(self, path: str) -> tuple[Path, str, os.stat_result | None]:
        """Resolve a file path: (real, shown, lstat or None when absent); refuse non-files."""
        if path.endswith("/"):
            raise WorkspaceError(f"{path!r} ends with '/', which names a directory")
        real = self.resolve(path)
        shown = self.rel(real)
        try:
            st = os.lstat(real)
        except (FileNotFoundError, NotADirectoryError):
            return real, shown, None
        except OSError as exc:
            raise WorkspaceError(f"cannot access {shown!r}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise WorkspaceError(f"{shown!r} is a directory; use list_dir")
        if not stat.S_ISREG(st.st_mode):
            raise WorkspaceError(f"{shown!r} is a device/FIFO/socket: refused")
        return real, shown, st

    def _walk(
        self,
        parts: tuple[str, ...],
        *,
        mkdir: bool = False,
        missing: str = "",
        created: list[str] | None = None,
    ) -> int:
        """A descriptor of root/parts, opened one component at a time, never following links;
        with ``mkdir``, missing folders are created (and appended to ``created``)."""
        dfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i, comp in enumerate(parts):
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                where = "/".join(parts[: i + 1])
                try:
                    nfd = os.open(comp, flags, dir_fd=dfd)
                except FileNotFoundError:
                    if not mkdir:
                        raise WorkspaceError(missing or f"no such directory: {where}") from None
                    os.mkdir(comp, 0o777, dir_fd=dfd)
                    if created is not None:
                        created.append(where)
                    nfd = os.open(comp, flags, dir_fd=dfd)
                except OSError:
                    link = os.path.islink(self.root.joinpath(*parts[: i + 1]))
                    what = " (a symbolic link)" if link else ""
                    raise WorkspaceError(
                        f"'{where}' is not a plain directory{what}: refused"
                    ) from None
                os.close(dfd)
                dfd = nfd
        except BaseException:
            os.close(dfd)
            raise
        return dfd

    def opener(self, real: Path) -> Callable[[str, int], int]:
        """An ``opener`` for ``open`` that reaches ``real`` through ``_walk`` (no TOCTOU escape)."""
        parts = real.relative_to(self.root).parts

        def opener(_path: str, flags: int) -> int:
            dfd = self._walk(parts[:-1])
            try:
                fd = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
            finally:
                os.close(dfd)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise WorkspaceError("not a regular file: refused")
            return fd

        return opener

    def _too_big(self, shown: str, size: int, hint: str = "") -> WorkspaceError:
        limit = _human(self.max_read_bytes)
        return WorkspaceError(f"{shown!r} is {_human(size)}, over the {limit} read limit{hint}")

    async def _read_small(self, path: str) -> tuple[Path, str, bytes | None]:
        """The whole content of a (text, small) file, or None when it does not exist."""
        real, shown, st = self._file(path)
        if st is None:
            return real, shown, None
        if st.st_size > self.max_read_bytes:
            raise self._too_big(shown, st.st_size)
        async with aiofiles.open(real, "rb", opener=self.opener(real)) as f:
            data = await f.read(self.max_read_bytes + 1)
        if len(data) > self.max_read_bytes:
            raise self._too_big(shown, len(data))
        if b"\x00" in data:
            raise WorkspaceError(f"{shown!r} looks binary (NUL bytes); not editable")
        return real, shown, data

    # -- read-only operations ------------------------------------------------------------------

    async def read_bytes(self, path: str) -> bytes | None:
        """The whole content of a small text file, or None when it does not exist."""
        return (await self._read_small(path))[2]

    async def read_file(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> str:
        """Numbered lines of a text file (``"  12| text"``), optionally a 1-based line range."""
        real, shown, st = self._file(path)
        if st is None:
            raise WorkspaceError(f"no such file: {shown}")
        ranged = start_line is not None or end_line is not None
        if st.st_size > self.max_read_bytes and not ranged:
            raise self._too_big(shown, st.st_size, "; use start_line/end_line")
        first = max(1, start_line or 1)
        last = end_line if end_line is not None else None
        if last is not None and last < first:
            raise WorkspaceError(f"end_line {end_line} is before start_line {first}")
        big = st.st_size > self.max_read_bytes
        picked, total, stopped = await asyncio.to_thread(
            self._read_lines, real, shown, first, last, big
        )
        of_total = "" if stopped else f" of {total}"
        if not picked:
            if total == 0:
                return f"{shown} is empty (0 lines)"
            raise WorkspaceError(f"start_line {first} is past the end: {shown} has {total} lines")
        text = [ln.decode("utf-8", "replace") for ln in picked]
        notes = []
        if any(t.endswith("\r") for t in text):
            notes.append("CRLF line endings")
        if any("\ufffd" in t for t in text) and b"\xef\xbf\xbd" not in b"".join(picked):
            notes.append("not valid UTF-8; undecodable bytes shown as \ufffd")
        if last is not None and last > first + len(picked) - 1:
            notes.append(f"end_line {last} clamped; the file has {total} lines")
        end = first + len(picked) - 1
        head = f"{shown} (lines {first}-{end}{of_total})" + "".join(f" [{n}]" for n in notes)
        width = max(4, len(str(end)))
        body = [f"{n:>{width}}| {t.removesuffix(chr(13))}" for n, t in enumerate(text, first)]
        return "\n".join([head, *body])

    def _read_lines(
        self, real: Path, shown: str, first: int, last: int | None, stop_at_last: bool
    ) -> tuple[list[bytes], int, bool]:
        """Lines ``first``..``last`` (1-based) of ``real``, the number of lines seen and whether
        the read stopped after ``last``. One pass, linear in the bytes read, memory bounded by
        the read limit (whatever the length of a line); run in a thread, off the event loop."""
        picked: list[bytes] = []
        line: list[bytes] = []  # pieces of the current line, kept only when it is in range
        line_no, size, partial = 1, 0, False
        with open(real, "rb", opener=self.opener(real)) as f:
            while chunk := f.read(READ_CHUNK):
                if b"\x00" in chunk:
                    raise WorkspaceError(f"{shown!r} looks binary (NUL bytes); not shown")
                pos, n = 0, len(chunk)
                while pos < n:
                    if line_no < first:  # skip whole lines quickly, without copying them
                        skip = chunk.count(b"\n", pos)
                        if line_no + skip < first:
                            line_no += skip
                            partial = chunk[-1:] != b"\n"
                            break
                        for _ in range(first - line_no):
                            pos = chunk.index(b"\n", pos) + 1
                        line_no, partial = first, False
                        continue
                    if last is not None and line_no > last:
                        if stop_at_last:
                            return picked, line_no - 1, True
                        line_no += chunk.count(b"\n", pos)
                        partial = chunk[-1:] != b"\n"
                        break
                    nl = chunk.find(b"\n", pos)
                    piece = chunk[pos : n if nl < 0 else nl]
                    size += len(piece) + (nl >= 0)
                    if size > self.max_read_bytes:
                        where = f"{shown}, lines {first}-{last if last is not None else 'end'}"
                        raise self._too_big(where, size, "; ask for fewer")
                    line.append(piece)
                    if nl < 0:
                        partial = True
                        break
                    picked.append(b"".join(line))
                    line, pos, partial = [], nl + 1, False
                    line_no += 1
        if partial and (last is None or line_no <= last) and line_no >= first:
            picked.append(b"".join(line))
        return picked, line_no - (0 if partial else 1), False

    async def list_dir(self, path: str = ".") -> str:
        """Sorted entries of a directory: ``name/`` for directories, sizes for files."""
        real = self.resolve(path)
        shown = self.rel(real)
        if not real.is_dir():
            raise WorkspaceError(
                f"no such directory: {shown}"
                if not real.exists()
                else f"{shown!r} is not a directory; use read_file"
            )
        return await asyncio.to_thread(self._list_sync, real, shown)

    def _list_sync(self, real: Path, shown: str) -> str:
        try:
            with os.scandir(real) as it:
                entries = [e for e in it if e.name.lower() != ".adaptive_llm"]
        except OSError as exc:
            raise WorkspaceError(f"cannot list {shown!r}: {exc.strerror}") from None
        entries.sort(key=lambda e: (not e.is_dir(follow_symlinks=False), e.name))
        out = [f"{shown}/ ({len(entries)} entries)"]
        for e in entries[: self.max_list_entries]:
            name = _show(e.name)
            if e.is_symlink():
                try:
                    inside = Path(e.path).resolve().is_relative_to(self.root)
                    note = "" if inside else "  [outside the workspace]"
                except (OSError, RuntimeError):
                    note = "  [symlink loop]"
                line = f"{name} -> {_show(os.readlink(e.path))}{note}"
            elif e.is_dir(follow_symlinks=False):
                line = f"{name}/"
            elif e.is_file(follow_symlinks=False):
                line = f"{name}  {_human(e.stat(follow_symlinks=False).st_size)}"
            else:
                line = f"{name}  [device/FIFO/socket]"
            out.append(line + ("  [protected]" if _denied(e.name) else ""))
        if len(entries) > self.max_list_entries:
            out.append(f"... and {len(entries) - self.max_list_entries} more entries")
        return "\n".join(out)

    async def search(self, pattern: str, path: str = ".") -> str:
        """``file:line: text`` for lines matching a regex (or literal text) under ``path``."""
        rx, note = compile_pattern(pattern)
        real = self.resolve(path)
        if real.exists() and not real.is_dir():
            self._file(path)
        elif not real.exists():
            raise WorkspaceError(f"no such file or directory: {self.rel(real)}")
        return await asyncio.to_thread(search_tree, self, real, rx, (pattern, note))

    # -- edits ---------------------------------------------------------------------------------

    async def _before(self, path: str, base: bytes | None) -> tuple[Path, str, bytes | None]:
        """The file's content now, or ``base``: what earlier changes of a reply will leave."""
        real, shown, before = await self._read_small(path)
        return real, shown, before if base is None else base

    async def plan_edit(
        self, path: str, old_text: str, new_text: str, base: bytes | None = None
    ) -> EditPlan:
        """Plan replacing the one exact occurrence of ``old_text`` with ``new_text``, in the
        file as it is (or as ``base``, when earlier changes of the reply will write that)."""
        if not old_text:
            raise WorkspaceError("old_text is empty; use write_file to create or replace a file")
        if old_text == new_text:
            raise WorkspaceError("new_text is identical to old_text; nothing to change")
        _, shown, before = await self._before(path, base)
        if before is None:
            raise WorkspaceError(f"no such file: {shown}")
        old, new = old_text.encode(), new_text.encode()
        if old not in before and b"\r\n" in before and b"\r" not in old + new:
            old, new = old.replace(b"\n", b"\r\n"), new.replace(b"\n", b"\r\n")  # CRLF file
        at = before.find(old)
        if at < 0:
            raise WorkspaceError(f"old_text not found in {shown}; read the file again")
        if before.find(old, at + 1) >= 0:
            n = max(2, before.count(old))
            raise WorkspaceError(
                f"old_text occurs {n} times in {shown}; include more context so it is unique"
            )
        after = before[:at] + new + before[at + len(old) :]
        return self._plan(shown, "edit", before, after)

    async def plan_write(self, path: str, content: str, base: bytes | None = None) -> EditPlan:
        """Plan creating ``path`` or replacing its whole content with ``content`` (on ``base``,
        as ``plan_edit``)."""
        real, shown, before = await self._before(path, base)
        if before is None:
            parent = real.parent
            while not parent.exists():
                parent = parent.parent
            if not parent.is_dir():
                raise WorkspaceError(f"cannot create {shown}: {self.rel(parent)!r} is a file")
        after = content.encode()
        if before == after:
            raise WorkspaceError(f"{shown} already has exactly this content; nothing to change")
        return self._plan(shown, "create" if before is None else "overwrite", before, after)

    def _plan(
        self,
        shown: str,
        kind: Literal["create", "overwrite", "edit"],
        before: bytes | None,
        after: bytes,
    ) -> EditPlan:
        if len(after) > self.max_write_bytes:
            limit = _human(self.max_write_bytes)
            raise WorkspaceError(f"new content is {_human(len(after))}, over the {limit} limit")
        sha = None if before is None else _sha(before)
        return EditPlan(shown, kind, before, after, _diff(shown, before, after), sha)

    async def apply(self, plan: EditPlan) -> AppliedEdit:
        """Write a plan atomically, refusing if the file changed since it was planned."""
        if len(plan.after) > self.max_write_bytes or plan.kind not in (
            "create",
            "overwrite",
            "edit",
        ):
            raise WorkspaceError("invalid edit plan: refused")
        parts = self._planned(plan.path)
        if (plan.kind == "create") != (plan.before_sha256 is None):
            raise WorkspaceError("invalid edit plan: refused")
        created: list[str] = []
        before = await asyncio.to_thread(
            self._replace, parts, plan.after, plan.before_sha256, _STALE.format(plan.path), created
        )
        return AppliedEdit(
            plan.path, plan.kind, before, _sha(plan.after), plan.diff, tuple(created)
        )

    async def undo(self, applied: AppliedEdit) -> str:
        """Put back the content from before ``applied`` (delete the file if it created it,
        and the folders it created for it when they are empty)."""
        parts = self._planned(applied.path)
        stale = f"'{applied.path}' changed since the edit was applied; not undone"
        await asyncio.to_thread(self._replace, parts, applied.before, applied.after_sha256, stale)
        if applied.before is not None:
            return f"restored {applied.path} to its content before the {applied.kind}"
        message = f"deleted {applied.path} (undid its creation)"
        kept = await asyncio.to_thread(self._remove_dirs, applied.created_dirs, parts)
        removed = [d for d in applied.created_dirs if d not in kept]
        if removed:
            message += f", and the folder{'s' if len(removed) > 1 else ''} it created: "
            message += ", ".join(f"{d}/" for d in removed)
        if kept:
            message += f"; kept {', '.join(f'{d}/' for d in kept)} (not empty any more)"
        return message

    def _planned(self, path: str) -> tuple[str, ...]:
        """The components of a plan's path, checked but not resolved: ``apply`` and ``undo``
        walk exactly the path that was shown, so a symlink swapped in since is refused."""
        parts = tuple(path.split("/"))
        bad = not path or "\x00" in path or path.startswith("/")
        if bad or any(p in ("", ".", "..") for p in parts):
            raise WorkspaceError(f"edit plan path {path!r} is outside the workspace: refused")
        _refuse_denied(parts, path)
        return parts

    def _remove_dirs(self, dirs: tuple[str, ...], file_parts: tuple[str, ...]) -> list[str]:
        """Remove the folders a creation made (deepest first, only when empty, only those on
        the file's own path); the ones kept."""
        kept = []
        parent = "/".join(file_parts[:-1])
        for where in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
            if not (parent == where or parent.startswith(where + "/")):
                continue  # not on the path of the file: never touched
            up = tuple(where.split("/"))
            try:
                dfd = self._walk(up[:-1])
            except WorkspaceError:
                continue  # already gone (or replaced): nothing of ours to remove
            try:
                os.rmdir(up[-1], dir_fd=dfd)
            except FileNotFoundError:
                pass
            except OSError:
                kept.append(where)
            finally:
                os.close(dfd)
        return kept

    def _replace(
        self,
        parts: tuple[str, ...],
        data: bytes | None,
        expect: str | None,
        stale: str,
        created: list[str] | None = None,
    ) -> bytes | None:
        """In the real parent (walked with O_NOFOLLOW): check the sha, then write or delete."""
        dfd = self._walk(parts[:-1], mkdir=expect is None, missing=stale, created=created)
        try:
            return self._replace_in(dfd, parts, data, expect, stale)
        finally:
            os.close(dfd)

    def _replace_in(
        self, dfd: int, parts: tuple[str, ...], data: bytes | None, expect: str | None, stale: str
    ) -> bytes | None:
        name, shown = parts[-1], "/".join(parts)
        current, mode = None, None
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise WorkspaceError(
                    f"'{shown}' is now a symbolic link; the change was shown for the file"
                    " itself, so it is refused (read it again)"
                )
            if not stat.S_ISREG(st.st_mode):
                what = "a directory" if stat.S_ISDIR(st.st_mode) else "a device/FIFO/socket"
                raise WorkspaceError(f"'{shown}' is {what}, not a regular file: refused")
            mode = stat.S_IMODE(st.st_mode)
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
            with open(fd, "rb") as f:
                current = f.read(max(self.max_read_bytes, self.max_write_bytes) + 1)
        if (None if current is None else _sha(current)) != expect:
            raise WorkspaceError(stale)
        if data is None:
            os.unlink(name, dir_fd=dfd)
        else:
            tmp = f".{secrets.token_hex(8)}.adaptive_llm.tmp"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(tmp, flags, 0o644, dir_fd=dfd)
            try:
                with open(fd, "wb") as f:
                    if mode is not None:
                        os.fchmod(f.fileno(), mode)
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dfd)
                raise
        os.fsync(dfd)
        return current


def _refuse_denied(parts: tuple[str, ...], path: str) -> None:
    """``WorkspaceError`` if a component of ``path`` is internal state or on the deny list."""
    for part in parts:
        if part.lower() == ".adaptive_llm":
            raise WorkspaceError(f"{path!r} is the workspace's internal state: refused")
        if _denied(part):
            raise WorkspaceError(f"{path!r} is protected ({part!r} may hold secrets): refused")
