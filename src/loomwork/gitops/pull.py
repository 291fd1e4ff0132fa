"""`pull`: the group's artifacts (all, or those of some kinds, with a label, or matching a search) written to a
folder, one file each, byte-identical for the same registry state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from loomwork.gitops.format import CURRENT, KINDS, ArtifactFile, dump, fields_of, file_names
from loomwork.gitops.remote import Remote


def pull(
    remote: Remote,
    root: Path,
    *,
    kinds: tuple[str, ...] = KINDS,
    label: str | None = None,
    search: str | None = None,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
) -> dict[str, int]:
    """Write the files; answers how many per kind. A full pull (no label or search) also removes the files of
    artifacts that are gone; any pull removes an artifact's old file when its name (so its slug) changed."""
    written: dict[str, int] = {}
    for kind in kinds:
        listed = remote.ids(kind, search)
        tick = progress(f"Pulling {kind}", len(listed)) if progress else None
        current = remote.current(kind, [artifact_id for artifact_id, _ in listed], tick)
        if label is not None:
            current = {i: c for i, c in current.items() if label in c.labels}
        paths = file_names(kind, [(i, c.config.get("name") or "") for i, c in current.items()])
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder, root, set(paths.values()), set(current), full=label is None and not search)
        for artifact_id, now in current.items():
            labels: dict[str, int | str] = {
                name: CURRENT if version == now.version else version for name, version in now.labels.items()
            }
            item = ArtifactFile(
                kind, root / paths[artifact_id], artifact_id, fields_of(kind, now.config), labels or None
            )
            target = root / paths[artifact_id]
            text = dump(item)
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
        written[kind] = len(current)
    return written


def _remove_stale(folder: Path, root: Path, keep: set[str], ids: set[str], *, full: bool) -> None:
    for path in folder.glob("*.y*ml"):
        if str(path.relative_to(root)) in keep:
            continue
        if full:
            path.unlink()
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and str(data.get("id")) in ids:
            path.unlink()
