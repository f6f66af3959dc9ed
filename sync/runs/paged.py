"""One runner for the runs through all persons, a page (or a batch) per job: the import
(sync/runs/import_run.py, F12) and the sync-rules runs (sync/runs/rule_run.py, F14).

A run is a row (its table, store/runs.py, says which states a job drives) and one job at a
time of its kind in the durable queue. Each job is one step, the same for every run:

1. The run's row is read. A run no longer working (cancelled, finished, replaced) ends the
   job quietly: so Cancel stops a run before its next page or batch.
2. The run does its step (`StepFn`): reads the Pipedrive page at the saved cursor, or sends a
   batch, and says what changes.
3. The step is saved in one transaction with the job for the next step (store.runs.save_step).
   A restart resumes at the saved cursor and redoes at most the step under way, which each
   run makes harmless (the import stages a person once; a synchronize is an upsert; a rule
   run's verdicts and sends are idempotent). A step that ends after a cancel keeps only what
   Maileon has already (the person states) and says nothing more.
4. A run that ends says what it did as facts (counts), the message of its last job's sync-log
   line; web/ words them (web/run_words.py), as it words the run's card.

A step that keeps failing stops the run (its job failed); Resume queues the step again at the
saved cursor and Cancel ends the run (store.runs.resume / cancel, one path for both runs).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from store import runs
from store.queue import Job
from store.runs import RunTable, Write
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.engine.worker import Handler


@dataclass
class Step:
    """What one step of a run did."""

    changes: dict[str, Any]  # the run's row after it: counters, cursor, a new state
    always: Write | None = None  # what Maileon has already: saved even after a cancel
    then: Write | None = None  # the step's other writes, only while the run works
    facts: dict[str, Any] | None = None  # an ending run's counts for the sync log (None: no line)


StepFn = Callable[[Context, Job, dict[str, Any]], Awaitable[Step]]


def runner(table: RunTable, step: StepFn) -> Handler:
    """The job handler of a run: one step per job, as the module says."""

    async def handle(ctx: Context, job: Job) -> Outcome:
        row = runs.get(ctx.store, table, job.company_id, int(job.entity_id))
        if row is None or row["state"] not in table.working:
            return Outcome.quiet(f"{table.noun} no longer running")
        done = await step(ctx, job, row)
        if not runs.save_step(
            ctx.store, table, job.company_id, row, done.changes, done.always, done.then
        ):
            return Outcome.quiet(f"{table.noun} cancelled")
        if done.changes.get("state", row["state"]) in table.working:
            return Outcome.quiet(f"{table.noun}: step {row['pages'] + 1} done")
        if done.facts is None:
            return Outcome.quiet(f"{table.noun}: {done.changes['state']}")
        return Outcome.ok(facts_message(done.facts))

    return handle


def facts_message(facts: dict[str, Any]) -> str:
    """An ended run's counts as its sync-log message (compact JSON; web/log_words.py words it)."""
    return json.dumps(facts, separators=(",", ":"), sort_keys=True)
