"""`qstar merge`: join the shard runs of one stage (`--shard i/n`) into one complete run.

Each shard must be complete, of the same stage, with the same config apart from `data.shard`,
and the shards must be exactly 0..n-1 of the same n. Records are put back in the order of the
unsharded question list (shard i holds questions i, i+n, ...); a duplicate or missing id fails
the merge, and nothing is written unless every check passes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from qstar_cli import ui
from qstar_cli.artifacts.jsonl import write_json_atomic, write_jsonl
from qstar_cli.artifacts.rundir import (
    LOCK,
    now,
    read_manifest,
    read_stage_run,
    sha256_file,
    sha256_json,
    verify_complete,
)
from qstar_cli.config import config_diff, semantic_view
from qstar_cli.config.sections import STAGES, by_command
from qstar_cli.errors import QstarError


def run(shard_dirs: list[str], out: str) -> Path:
    if not shard_dirs:
        raise QstarError("merge needs the shard run directories")
    name = read_manifest(Path(shard_dirs[0])).get("stage")
    stage = by_command(name)
    if stage is None or stage.metrics is None:
        mergeable = ", ".join(s.command for s in STAGES.values() if s.metrics)
        raise QstarError(f"{shard_dirs[0]}: merging {name!r} runs is not supported (known: {mergeable})")
    records_name, metrics_fn = stage.records, getattr(stage.load(), stage.metrics)

    shards, base_config = {}, None
    for d in shard_dirs:
        manifest, records = read_stage_run(stage, d)
        config = yaml.safe_load((Path(d) / "config.yaml").read_text(encoding="utf-8"))
        spec = config.get("data", {}).get("shard")
        if not spec:
            raise QstarError(f"{d} is not a shard run (its data.shard is empty)")
        i, n = (int(x) for x in spec.split("/"))
        if i in shards:
            raise QstarError(f"shard {spec} is given twice ({shards[i][0]} and {d})")
        unsharded = _without_shard(config)
        if base_config is None:
            base_config, base_n = unsharded, n
        elif n != base_n:
            raise QstarError(f"{d} is shard {spec}, but the others split into {base_n}")
        else:
            diff = config_diff(semantic_view(base_config), semantic_view(unsharded))
            if diff:
                raise QstarError(f"{d} was run with a different config ({'; '.join(diff[:5])})")
        shards[i] = (d, manifest, records)
    missing = sorted(set(range(base_n)) - set(shards))
    if missing:
        raise QstarError(f"shards missing: {', '.join(f'{i}/{base_n}' for i in missing)}")

    merged, seen = [], set()
    order: dict[str, int] = {}
    for i, (d, manifest, records) in shards.items():
        for j, qid in enumerate(manifest["expected_ids"]):
            order[qid] = j * base_n + i
        for rec in records:
            if rec["id"] in seen:
                raise QstarError(f"duplicate question id {rec['id']!r} (again in {d})")
            seen.add(rec["id"])
            merged.append(rec)
    lost = sorted(set(order) - seen)
    if lost:
        raise QstarError(f"{len(lost)} question ids have no record, e.g. {lost[0]!r}")
    merged = [r for r in merged if r["id"] in order]
    merged.sort(key=lambda r: order[r["id"]])

    out_path = Path(out)
    merged_from = [str(Path(d).resolve()) for d, _, _ in shards.values()]
    done = read_manifest(out_path) if (out_path / "manifest.json").exists() else {}
    if done.get("merged_from") == merged_from and done.get("complete"):
        verify_complete(out_path, done, out_path / records_name)
        ui.info(f"{out_path} already holds the merge of these shards; nothing to do")
        return out_path
    if out_path.exists() and any(p.name != LOCK for p in out_path.iterdir()):
        raise QstarError(f"merge output {out_path} already exists and is not empty; choose another --out")
    # written beside the output and renamed into place at the end: a merge stopped part-way leaves
    # no half-merged run (the next one starts the folder again)
    work = out_path.with_name(out_path.name + ".merging")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "config.yaml").write_text(
        yaml.safe_dump(base_config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    write_jsonl(work / records_name, merged)
    sessions = [s for _, m, _ in shards.values() for s in m["sessions"]]
    # the shards' descriptive fields (model, backend, method settings, ...) carry over; every
    # number is recomputed over all the records
    described = _read_metrics(Path(shards[0][0]))
    write_json_atomic(work / "metrics.json", {**described, **metrics_fn(merged, sessions)})
    first = shards[0][1]
    inputs = dict(first["inputs"])
    if "questions_sha256" in inputs:  # the shards' question lists are parts of this one
        inputs["questions_sha256"] = sha256_json([[r["id"], r["question"], r["reference"]] for r in merged])
    manifest = {
        **first,
        "merged_from": merged_from,
        "inputs": inputs,
        "expected_ids": sorted(order, key=order.get),
        "sessions": sessions,
        "finished_at": now(),
        "records_sha256": sha256_file(work / records_name),
        "metrics_sha256": sha256_file(work / "metrics.json"),
        "complete": True,
    }
    write_json_atomic(work / "manifest.json", manifest)
    shutil.rmtree(out_path, ignore_errors=True)  # empty, or a lock file only
    work.rename(out_path)
    ui.info(f"merged {len(shards)} shards, {len(merged)} questions -> {out_path}")
    return out_path


def _read_metrics(path: Path) -> dict:
    import json

    try:
        return json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _without_shard(config: dict) -> dict:
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()}
    config["data"]["shard"] = None
    for section in config.values():
        if isinstance(section, dict) and "out" in section:
            section["out"] = None
    return config
