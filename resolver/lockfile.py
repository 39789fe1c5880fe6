"""pylock.toml (PEP 751): rendering a resolution, and writing it atomically."""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from resolver.environments import DEFAULT_REQUIRES_PYTHON, Cell, Config, EnvironmentSpace
from resolver.errors import AspenError
from resolver.options import LockOptions, format_cutoff
from resolver.parsed_cache import lock_fields, lock_rows
from resolver.prior import parse_lock
from resolver.project import Source
from resolver.provider import DistFile
from resolver.resolution import Entry, Resolution


def render_lock(resolution: Resolution, previous: str | None = None) -> str:
    """The pylock.toml text of a resolution: sorted, free of timestamps that change, valid.
    ``previous`` (the lock being replaced) is returned as it is when only its recorded
    objective costs differ: ranks move when an index gains versions, with nothing to re-lock."""
    return render_lock_data(lock_data(resolution), previous)


def render_lock_data(data: dict[str, Any], previous: str | None = None) -> str:
    """``render_lock`` of a resolution's ``lock_data``. (The tests validate what this writes
    with ``packaging.pylock``; validating here too cost 0.05-0.09 s of every lock.)"""
    if previous is not None and _same_data(previous, data):
        return previous
    return dumps_lock(data)


def lock_data(resolution: Resolution) -> dict[str, Any]:
    """The lock as plain data: what ``tomllib`` reads from the text ``dumps_lock`` writes."""
    project = resolution.project
    data: dict[str, Any] = {"lock-version": "1.0"}
    if project.settings.environments:
        data["environments"] = [str(m) for m in project.settings.environments]
    data["requires-python"] = str(project.requires_python or DEFAULT_REQUIRES_PYTHON)
    data["extras"] = sorted(project.extras)
    data["dependency-groups"] = sorted(project.groups)
    data["default-groups"] = ["dev"] if "dev" in project.groups else []
    data["created-by"] = "aspen"
    counts = Counter(e.name for e in resolution.entries)
    multiple = {name for name, n in counts.items() if n > 1}
    render = _Renderer(resolution.space)
    data["packages"] = [
        _package(entry, entry_marker(entry, resolution, render), multiple)
        for entry in resolution.entries
    ]
    data["tool"] = {"aspen": _tool(resolution)}
    return data


def _tool(resolution: Resolution) -> dict[str, Any]:
    """What aspen needs to re-lock the same way, and what the lock traded: the options that
    differ from the defaults, and the cost of every objective level."""
    table: dict[str, Any] = {}
    options, default = resolution.options, LockOptions().choices()
    for key, value in options.choices().items():
        if value != default[key]:
            table[key] = str(value)
    if options.exclude_newer is not None:
        table["exclude-newer"] = format_cutoff(options.exclude_newer)
    table["objective"] = dict(resolution.solution.record())
    return table


def _package(entry: Entry, marker: str | None, multiple: set[str]) -> dict[str, Any]:
    version = entry.version
    table: dict[str, Any] = {"name": entry.name, "version": str(version)}
    if marker is not None:
        table["marker"] = marker
    requires_python = entry.package.requires_python(version)
    if requires_python is not None:
        text = str(requires_python)
        if text:
            table["requires-python"] = text
    # Each file's lock fields are read once (a stored file's in one read of its row), and the
    # files sorted by their names from them (a stable sort: the same order as by the files'
    # names): examples/large's 7,764 files.
    rows = lock_rows(entry.package.files[version])
    rows.sort(key=_NAME)
    index = next((index for _name, _fields, _kind, index in rows if index), None)
    if index:
        table["index"] = index
    if entry.dependencies:
        table["dependencies"] = [
            {"name": name, "version": str(version)} if name in multiple else {"name": name}
            for name, version in sorted(entry.dependencies)
        ]
    kinds = [kind for _name, _fields, kind, _index in rows]
    if "sdist" in kinds:
        table["sdist"] = _table(rows[kinds.index("sdist")][1])
    wheels = [_table(fields) for _name, fields, kind, _index in rows if kind == "wheel"]
    if wheels:
        table["wheels"] = wheels
    return table


_NAME = itemgetter(0)


class FileTable(dict):
    """A file's table in the lock, a plain dict to whatever reads it, with its text when
    ``_file`` could write it: a lock writes thousands, and their fields are at hand then
    (examples/large: 7,764 files, written in 0.08 s of profile instead of 0.18 s by checking
    the finished tables one by one)."""

    __slots__ = ("text",)


def _file(dist: DistFile) -> FileTable:
    """A file's table in the lock (and its text, when it needs nothing escaped)."""
    return _table(lock_fields(dist))


def _table(fields: tuple[Any, ...]) -> FileTable:
    """``_file`` of a file's ``lock_fields``. Nearly every file has one hash and plain strings:
    its hashes need no sorting, and its strings, when ASCII, are checked for characters to
    escape by one ``bytes.translate`` through ``_PLAIN`` (the regular expression only when
    that finds one, or for other strings); its text is one f-string. (With each file's fields
    read once in ``_package``, and the upload times written by ``_datetime_text``:
    examples/large's ``lock_data``, 469 M instructions instead of 650 M; ``str.isprintable``
    over the strings cost 7,300 instructions a file, the translation 3,400, and the text
    built piece by piece 2,600 more: 7,764 tables, 190 M -> 131 M.)"""
    filename, url, upload_time, size, hashes, upload_text = fields
    item = FileTable(name=filename, url=url)
    if upload_time is not None:
        item["upload-time"] = upload_time
    if size is None and url[:5].lower() == "file:":
        size = _local_size(url)
    if size is not None:
        item["size"] = size
    digests = dict(hashes)
    if len(digests) != 1:
        digests = digests or _local_hashes(url)
        digests = {k: digests[k] for k in sorted(digests)}
    item["hashes"] = digests
    if type(filename) is not str or type(url) is not str:
        return item
    if len(digests) == 1:
        [(key, value)] = digests.items()
        if type(value) is not str:
            return item
        strings = f"{filename}{url}{value}"
        written = f'{_KEYS.get(key) or _key(key)} = "{value}"'
    else:
        strings = filename + url
        for value in digests.values():
            if type(value) is not str:
                return item
            strings += value
        keys = _KEYS
        written = ",".join([f'{keys.get(k) or _key(k)} = "{v}"' for k, v in digests.items()])
    if not (strings.isascii() and 0 not in strings.encode().translate(_PLAIN)):
        if _ESCAPED.search(strings) is not None:
            return item
    when = (
        ""
        if upload_time is None
        else f", upload-time = {upload_text or _datetime_text(upload_time)}"
    )
    sized = "" if size is None else f", size = {size if type(size) is int else _scalar(size)}"
    item.text = f'{{name = "{filename}", url = "{url}"{when}{sized}, hashes = {{{written}}}}}'
    return item


# -- text -------------------------------------------------------------------------------------


def dumps_lock(data: dict[str, Any]) -> str:
    """The text of lock data, byte for byte as tomlkit writes the document, joined from
    tomlkit's rendering of the scalars: many times faster than building the (many, regular)
    ``[[packages]]`` tables item by item, and a warm lock need not import tomlkit at all."""
    if not data["packages"]:
        return _tomlkit_dumps(data)  # tomlkit writes `packages = []` first: leave that to it
    parts = [
        f"{_key(key)} = {_value(value)}\n"
        for key, value in data.items()
        if key not in ("packages", "tool")
    ]
    for package in data["packages"]:
        parts.append("\n[[packages]]\n")
        _package_text(package, parts)
    aspen = data["tool"]["aspen"]
    options = {key: value for key, value in aspen.items() if key != "objective"}
    if options:
        parts.append("\n[tool.aspen]\n")
        parts += [f"{_key(key)} = {_value(value)}\n" for key, value in options.items()]
    parts.append(f"\n[tool.aspen.objective] # {_OBJECTIVE}\n")
    parts += [f"{_key(key)} = {_value(value)}\n" for key, value in aspen["objective"].items()]
    return "".join(parts)


_OBJECTIVE = "cost of each objective level, highest priority first (README)"


def _tomlkit_dumps(data: dict[str, Any]) -> str:
    import tomlkit

    doc = tomlkit.document()
    for key, value in data.items():
        if key not in ("packages", "tool"):
            doc[key] = value
    doc["packages"] = tomlkit.aot()
    table = tomlkit.table()
    for key, value in data["tool"]["aspen"].items():
        if key != "objective":
            table[key] = value
    objective = tomlkit.table()
    objective.comment(_OBJECTIVE)
    for key, cost in data["tool"]["aspen"]["objective"].items():
        objective[key] = cost
    table["objective"] = objective
    doc["tool"] = {"aspen": table}
    return tomlkit.dumps(doc)


def _package_text(package: dict[str, Any], out: list[str]) -> None:
    """Append the lines of one ``[[packages]]`` table (after its header)."""
    for key, value in package.items():
        if key == "wheels":
            out.append("wheels = [\n")
            for wheel in value:
                out.append(f"    {_file_text(wheel)},\n")
            out.append("]\n")
        elif key == "dependencies":
            out.append(f"dependencies = [{', '.join([_dependency_text(d) for d in value])}]\n")
        elif key == "sdist":
            out.append(f"sdist = {_file_text(value)}\n")
        else:
            out.append(f"{key} = {_scalar(value)}\n")


def _dependency_text(dependency: dict[str, Any]) -> str:
    """``_inline(dependency)``; a dependency that gives only a plain name (examples/large: 3,100
    of them) written at once."""
    if len(dependency) == 1:
        name = dependency.get("name")
        if type(name) is str and name.isprintable() and '"' not in name and "\\" not in name:
            return f'{{name = "{name}"}}'
    return _inline(dependency)


def _file_text(item: dict[str, Any]) -> str:
    """``_inline(item)`` of a file's table: as ``_file`` wrote it, else by ``_inline``."""
    made = getattr(item, "text", None)
    return made if made is not None else _inline(item)


def _inline(table: dict[str, Any], separator: str = ", ") -> str:
    # tomlkit separates the items of an inline table nested in another one by a bare comma.
    # (Plain strings and known keys are written here, not by _scalar and _key: a lock writes
    # tens of thousands of them.)
    items = []
    search = _ESCAPED.search
    for k, v in table.items():
        if type(v) is str and search(v) is None:
            text = f'"{v}"'
        elif isinstance(v, dict):
            text = _inline(v, ",")
        else:
            text = _scalar(v)
        items.append(f"{_KEYS.get(k) or _key(k)} = {text}")
    return "{" + separator.join(items) + "}"


# Characters a TOML basic string must escape; strings without them are written as they are.
_ESCAPED = re.compile(r'[\x00-\x1f\x7f"\\]')
# Each byte: 0 for an ASCII character ``_ESCAPED`` matches, else 1 (``_table``'s test).
_PLAIN = bytes(0 if _ESCAPED.match(chr(b)) else 1 for b in range(256))
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _value(value: Any) -> str:
    """A scalar, or an array of them on one line, as tomlkit writes it."""
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return _scalar(value)


def _datetime_text(value: datetime) -> str:
    """tomlkit.item(datetime)'s raw text: its ``isoformat()``, "Z" for "+00:00". A time in UTC
    (what an index gives) is written here from its fields: ``isoformat`` and ``replace`` cost
    13,300 instructions a time, this 7,700 (examples/large writes 7,764)."""
    if type(value) is not datetime or value.tzinfo is not UTC or value.year < 1000:
        return value.isoformat().replace("+00:00", "Z")
    two = _TWO_DIGITS
    text = (
        f"{value.year}-{two[value.month]}-{two[value.day]}"
        f"T{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
    )
    micro = value.microsecond
    return f"{text}.{micro:06d}Z" if micro else f"{text}Z"


_TWO_DIGITS = [f"{n:02d}" for n in range(100)]


def _scalar(value: str | int | datetime) -> str:
    """A string, integer or date-time as tomlkit writes it (tomlkit itself escapes strings that
    need it)."""
    if isinstance(value, str):
        if _ESCAPED.search(value) is None:
            return f'"{value}"'
        import tomlkit

        return tomlkit.string(value).as_string()
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    import tomlkit

    return tomlkit.item(value).as_string()


def _key(key: str) -> str:
    text = _KEYS.get(key)
    if text is None:
        if _BARE_KEY.fullmatch(key):
            text = key
        else:
            import tomlkit

            text = tomlkit.key(key).as_string()
        _KEYS[key] = text
    return text


# Keys as written: the same few (name, url, hashes, sha256, ...) come back on every line.
_KEYS: dict[str, str] = {}


def _same_data(old: str, data: dict[str, Any]) -> bool:
    """Whether a lock text holds this lock data, except for the recorded objective costs."""
    try:
        before = parse_lock(old)
    except tomllib.TOMLDecodeError:
        return False
    return _without_objective(before) == _without_objective(data)


def _without_objective(data: dict[str, Any]) -> dict[str, Any]:
    aspen = data.get("tool", {}).get("aspen")
    if not isinstance(aspen, dict) or "objective" not in aspen:
        return data
    rest = {key: value for key, value in aspen.items() if key != "objective"}
    return {**data, "tool": {**data["tool"], "aspen": rest}}


def same_lock(old: str, new: str) -> bool:
    """Whether two lock texts lock the same thing: equal once the recorded objective costs are
    left out."""
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        return False
    return _same_data(old, after)


class _Renderer:
    """``EnvironmentSpace.render``, remembered per set of cells: forked entries of a lock
    share their regions."""

    def __init__(self, space: EnvironmentSpace) -> None:
        self.space = space
        self._seen: dict[tuple[frozenset[Cell], tuple[int, ...] | None], str | None] = {}

    def __call__(
        self, cells: frozenset[Cell], within: Sequence[Config] | None = None
    ) -> str | None:
        key = (cells, None if within is None else tuple(c.index for c in within))
        if key not in self._seen:
            self._seen[key] = self.space.render(cells, within)
        return self._seen[key]


def entry_marker(
    entry: Entry, resolution: Resolution, render: Callable[..., str | None] | None = None
) -> str | None:
    """When the entry is installed: the cells it applies in, per source of the project."""
    space = resolution.space
    render = render or space.render
    main = entry.cells.get(Source("main"), frozenset())
    terms: list[str] = []
    if main:
        rendered = render(main)
        if rendered is None:
            return None
        terms.append(rendered)
    conditions: dict[str | None, list[str]] = {}  # rendered cells -> conditions of the sources
    for source in sorted(entry.cells, key=lambda s: (s.kind, s.name)):
        if source.kind == "main":
            continue
        cells = entry.cells[source]
        if cells <= main:
            continue
        variable = "extras" if source.kind == "extra" else "dependency_groups"
        # Where the main dependencies install the entry anyway, the source's own condition may
        # say yes or no: pick whichever cell set gives the shortest marker. With the source
        # selected, only the configurations that allow it can occur.
        allowed = [c for c in space.configs if c.allows(source)]
        options = [render(c, allowed) for c in (cells | main, cells, cells - main)]
        rendered = None if None in options else min(options, key=lambda t: (len(t), t))
        conditions.setdefault(rendered, []).append(f"'{source.name}' in {variable}")
    for rendered, names in sorted(conditions.items(), key=lambda kv: (kv[0] or "", kv[1])):
        condition = " or ".join(names)
        if rendered is None:
            terms.append(condition)
        else:
            terms.append(f"{_group(condition)} and {_group(rendered)}")
    if len(terms) == 1:
        return terms[0]
    return " or ".join(_group(t) for t in terms)


def _group(expression: str) -> str:
    """Parenthesise an expression that has a top-level ``or``, to combine it with ``and``."""
    return f"({expression})" if " or " in expression else expression


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def _local_size(url: str) -> int | None:
    path = _local_path(url)
    return path.stat().st_size if path is not None and path.exists() else None


def _local_hashes(url: str) -> dict[str, str]:
    path = _local_path(url)
    if path is None or not path.exists():
        raise AspenError(f"{url}: the index gives no hash for this file and it cannot be read")
    import hashlib

    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def write_lock(path: Path, text: str) -> bool:
    """Write atomically; False (and nothing touched) when the file already holds these bytes."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    # A temporary name of this process and thread, beside the lock (tempfile.mkstemp's random
    # names cost loading tempfile and random, about 2.5 ms of every lock).
    tmp = path.with_name(f".pylock.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
