"""pylock.toml (PEP 751): rendering a resolution, and writing it atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
import tomllib
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

import tomlkit
from packaging.pylock import Pylock, PylockValidationError
from tomlkit.items import Array, InlineTable

from resolver.environments import DEFAULT_REQUIRES_PYTHON
from resolver.errors import AspenError
from resolver.options import LockOptions, format_cutoff
from resolver.project import Source
from resolver.provider import DistFile
from resolver.resolution import Entry, Resolution


def render_lock(resolution: Resolution, previous: str | None = None) -> str:
    """The pylock.toml text of a resolution: sorted, free of timestamps that change, valid.
    ``previous`` (the lock being replaced) is returned as it is when only its recorded
    objective costs differ: ranks move when an index gains versions, with nothing to re-lock."""
    project = resolution.project
    doc = tomlkit.document()
    doc["lock-version"] = "1.0"
    if project.settings.environments:
        doc["environments"] = [str(m) for m in project.settings.environments]
    doc["requires-python"] = str(project.requires_python or DEFAULT_REQUIRES_PYTHON)
    doc["extras"] = sorted(project.extras)
    doc["dependency-groups"] = sorted(project.groups)
    doc["default-groups"] = ["dev"] if "dev" in project.groups else []
    doc["created-by"] = "aspen"
    packages = tomlkit.aot()
    counts = Counter(e.name for e in resolution.entries)
    multiple = {name for name, n in counts.items() if n > 1}
    for entry in resolution.entries:
        packages.append(_package_table(entry, resolution, multiple))
    doc["packages"] = packages
    doc["tool"] = {"aspen": _tool_table(resolution)}
    text = tomlkit.dumps(doc)
    try:
        Pylock.from_dict(tomllib.loads(text))
    except PylockValidationError as exc:  # a bug in aspen, never the user's fault
        raise AssertionError(f"aspen produced an invalid pylock.toml: {exc}") from exc
    if previous is not None and same_lock(previous, text):
        return previous
    return text


def _tool_table(resolution: Resolution) -> tomlkit.items.Table:
    """What aspen needs to re-lock the same way, and what the lock traded: the options that
    differ from the defaults, and the cost of every objective level."""
    table = tomlkit.table()
    options, default = resolution.options, LockOptions().choices()
    for key, value in options.choices().items():
        if value != default[key]:
            table[key] = value
    if options.exclude_newer is not None:
        table["exclude-newer"] = format_cutoff(options.exclude_newer)
    objective = tomlkit.table()
    objective.comment("cost of each objective level, highest priority first (README)")
    for key, cost in resolution.solution.record().items():
        objective[key] = cost
    table["objective"] = objective
    return table


def same_lock(old: str, new: str) -> bool:
    """Whether two lock texts lock the same thing: equal once the recorded objective costs are
    left out."""
    try:
        before, after = tomllib.loads(old), tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        return False
    for data in (before, after):
        data.get("tool", {}).get("aspen", {}).pop("objective", None)
    return before == after


def entry_marker(entry: Entry, resolution: Resolution) -> str | None:
    """When the entry is installed: the cells it applies in, per source of the project."""
    space = resolution.space
    main = entry.cells.get(Source("main"), set())
    terms: list[str] = []
    if main:
        rendered = space.render(main)
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
        options = [space.render(c, allowed) for c in (cells | main, cells, cells - main)]
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


def _package_table(entry: Entry, resolution: Resolution, multiple: set[str]) -> tomlkit.items.Table:
    table = tomlkit.table()
    table["name"] = entry.name
    table["version"] = str(entry.version)
    marker = entry_marker(entry, resolution)
    if marker is not None:
        table["marker"] = marker
    requires_python = entry.package.requires_python(entry.version)
    if requires_python is not None and str(requires_python):
        table["requires-python"] = str(requires_python)
    files = sorted(entry.package.files[entry.version], key=lambda f: f.filename)
    index = next((f.index for f in files if f.index), None)
    if index:
        table["index"] = index
    if entry.dependencies:
        deps = tomlkit.array()
        for name, version in sorted(entry.dependencies):
            ref = tomlkit.inline_table()
            ref["name"] = name
            if name in multiple:
                ref["version"] = str(version)
            deps.append(ref)
        table["dependencies"] = deps
    sdists = [f for f in files if f.kind == "sdist"]
    if sdists:
        table["sdist"] = _file_table(sdists[0])
    wheels = [f for f in files if f.kind == "wheel"]
    if wheels:
        array: Array = tomlkit.array()
        for wheel in wheels:
            array.append(_file_table(wheel))
        array.multiline(True)
        table["wheels"] = array
    return table


def _file_table(dist: DistFile) -> InlineTable:
    item = tomlkit.inline_table()
    item["name"] = dist.filename
    item["url"] = dist.url
    if dist.upload_time is not None:
        item["upload-time"] = dist.upload_time
    size = dist.size if dist.size is not None else _local_size(dist.url)
    if size is not None:
        item["size"] = size
    hashes = dict(dist.hashes) or _local_hashes(dist.url)
    item["hashes"] = {k: hashes[k] for k in sorted(hashes)}
    return item


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
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def write_lock(path: Path, text: str) -> bool:
    """Write atomically; False (and nothing touched) when the file already holds these bytes."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".pylock.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
