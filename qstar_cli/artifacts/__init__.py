"""Artifacts: record schemas (`records`), crash-safe JSONL (`jsonl`) and run directories (`rundir`).

Every stage reads and writes run directories holding config.yaml (fully resolved), manifest.json
(versions, git sha, seeds, input hashes; `complete: true` written last), the records JSONL (one
record per question, keyed by id, appended and flushed as work completes) and metrics.json.
No pickle anywhere.
"""
