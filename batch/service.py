"""The batch runner behind the broker: batch requests in, recipe runs out, status on Kafka.

A request (from an alert rule in the detect stage, or ``nenubroker batch request``) names a recipe
and a time and frequency window. The runner finds the Measurement Set in ``batch.ms_dir`` that
covers the window, runs the recipe on the matching partitions on Spark, and reports ``queued``,
``running`` (with progress), then ``done`` with its products or ``failed`` with the reason, on the
batch-status topic (``nenubroker batch status`` shows them). Requests are read in a consumer group
and committed once handled, so a restarted runner goes on where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nenubroker.batch.partition import MsTimeAxis
from nenubroker.batch.pipeline import Pipeline
from nenubroker.batch.recipe import load_recipe
from nenubroker.batch.requests import report_status
from nenubroker.batch.runner import RunReport, run_partitions
from nenubroker.client import subscribe
from nenubroker.conf.settings import Settings

log = logging.getLogger(__name__)
GROUP_ID = "nenubroker-batch"


def find_ms(ms_dir: Path, time_start_unix_s: float, time_stop_unix_s: float) -> Path | None:
    """The Measurement Set in ``ms_dir`` that overlaps the window most (None if none does)."""
    best, best_overlap = None, 0.0
    for ms in sorted(Path(ms_dir).glob("*.ms")):
        try:
            first, last = MsTimeAxis.read(ms).time_range_unix_s()
        except (OSError, RuntimeError, ValueError) as error:
            log.warning("skipping %s: %s", ms, error)
            continue
        overlap = min(last, time_stop_unix_s) - max(first, time_start_unix_s)
        if overlap > best_overlap:
            best, best_overlap = ms, overlap
    return best


def handle_request(settings: Settings, spark: Any, request: dict[str, Any]) -> RunReport | None:
    """Run one request's recipe on its window and report each step of its life."""
    request_id = request["request_id"]
    window = (request["time_start_unix_s"], request["time_stop_unix_s"])
    report_status(settings, request_id, "queued", f"recipe {request['recipe']}")
    try:
        recipe = load_recipe(request["recipe"], settings)
        ms = find_ms(settings.batch.ms_dir, *window)
        if ms is None:
            raise LookupError(f"no Measurement Set in {settings.batch.ms_dir} "
                              f"covers {window[0]:.1f}-{window[1]:.1f} unix s")
        pipeline = Pipeline(recipe, ms, settings.batch.work_dir / request_id, settings.batch.max_attempts)
        partitions = pipeline.plan(window, (request["freq_min_hz"], request["freq_max_hz"]))
        report_status(settings, request_id, "running", f"{len(partitions)} partitions of {ms.name}")
        report = run_partitions(pipeline, partitions, spark)
    except Exception as error:  # a bad request or a job that could not run: say why, keep serving
        report_status(settings, request_id, "failed", f"{type(error).__name__}: {error}")
        return None
    failed = [f"{r.partition.name}: {r.error}" for r in report.failed]
    state = "failed" if len(failed) == len(report.results) else "done"
    detail = f"{len(report.results) - len(failed)}/{len(report.results)} partitions in {report.seconds:.0f} s"
    detail += ("; failed " + "; ".join(failed)) if failed else ""
    report_status(settings, request_id, state, detail, [str(p) for p in report.products()] + [str(report.write())])
    return report


def serve(settings: Settings, spark: Any, idle_timeout_s: float | None = None,
          should_stop: Callable[[], bool] | None = None) -> int:
    """Handle requests as they come (until ``idle_timeout_s`` without one); returns how many."""
    handled = 0
    for request in subscribe([settings.kafka.topics.batch_requests], settings, group_id=GROUP_ID,
                             from_beginning=True, idle_timeout_s=idle_timeout_s, should_stop=should_stop):
        handle_request(settings, spark, request)
        handled += 1
    return handled


__all__ = ["find_ms", "handle_request", "serve"]
