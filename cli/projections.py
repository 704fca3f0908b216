"""`ledger projections ...`: status, follow, retry, rebuild, diff and drop of the read models."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bootstrap.services import Services
from bootstrap.settings import Settings
from cli.errors import CliError
from cli.output import print_json, print_table
from projections.diff import diff_builds
from projections.models import READ_MODELS
from projections.read_model import ReadModel
from projections.subject_links import SUBJECT_LINKS
from workers import projections as worker


def _model(name: str) -> ReadModel | None:
    """The read model called `name`; None for the links index."""
    for model in READ_MODELS:
        if model.name == name:
            return model
    if name == SUBJECT_LINKS.name:
        return None
    names = ", ".join([SUBJECT_LINKS.name, *(m.name for m in READ_MODELS)])
    raise CliError(f"no projection {name!r}; the projections are {names}")


def status(settings: Settings, args: argparse.Namespace) -> None:
    with Services.for_projections(settings) as services:
        states = services.runner.states()
        if args.json:
            print_json({"projections": states})
        else:
            columns = ["name", "version", "generation", "position", "lag", "state", "unapplied"]
            print_table(columns, [[s[c] for c in columns] for s in states])
            for s in states:
                for row in s["unapplied_rows"]:  # type: ignore[attr-defined]
                    print(
                        f"{s['name']}: row {row['key']!r} set aside as of position"
                        f" {row['position']} (entries {row['entries']}): {row['error']}"
                    )


def retry(settings: Settings, args: argparse.Namespace) -> None:
    """Compute the rows each build set aside again; those that now apply are written."""
    with Services.for_projections(settings) as services:
        if args.name:
            _model(args.name)  # a clear error for an unknown name
        results = []
        for build in services.runner.targets():
            if args.name in (None, build.name):
                applied, still = services.runner.retry_unapplied(build)
                results.append({"build": build.label, "applied": applied, "unapplied": still})
        if args.json:
            print_json({"retried": results})
        else:
            print_table(["build", "applied", "unapplied"], [list(r.values()) for r in results])


def run(settings: Settings, args: argparse.Namespace) -> None:
    """Follow the ledger in this process: the projections worker (`workers.projections`)."""
    with Services.for_projections(settings) as services:
        worker.follow(services)


def rebuild(settings: Settings, args: argparse.Namespace) -> None:
    """Build the model afresh from position 0 beside the serving build, then switch reads."""
    with Services.for_projections(settings) as services:
        model = _model(args.name)
        links = services.runner.links
        assert links is not None
        build = links.start_build() if model is None else services.read_models.start_build(model)
        first = services.read_models.position(build)
        started = time.monotonic()
        print(f"building {build.label} from position {first} (interrupt and rerun to resume)",
              file=sys.stderr)  # fmt: skip

        def progress(position: int, head: int) -> None:
            rate = (position - first) / max(time.monotonic() - started, 1e-6)
            eta = (head - position) / rate if rate else 0.0
            done = int(30 * position / head) if head else 30
            print(f"\r[{'#' * done}{'.' * (30 - done)}] {position}/{head} {rate:,.0f} events/s"
                  f" ETA {eta:,.0f}s", end="", file=sys.stderr, flush=True)  # fmt: skip

        try:
            applied = services.runner.catch_up(only=build, progress=progress)
        except KeyboardInterrupt:
            print(f"\ninterrupted at position {services.read_models.position(build)};"
                  " run the same command to resume", file=sys.stderr)  # fmt: skip
            raise SystemExit(130) from None
        restarted = [b.label for b in services.read_models.builds() if b.state == "building"]
        if model is None and restarted:  # new links rules: the read models rebuild through them
            print(f"\nrebuilding the read models through the new links: {', '.join(restarted)}",
                  file=sys.stderr)  # fmt: skip
            first, started = 0, time.monotonic()
            applied += services.runner.catch_up(progress=progress)
        served = services.read_models.serving(args.name)
        result = {"build": build.label, "applied": applied, "serving": served and served.label}
        if args.json:
            print_json(result)
        else:
            print(f"\n{build.label}: {applied} entries applied;"
                  f" reads now come from {result['serving']}")  # fmt: skip


def diff(settings: Settings, args: argparse.Namespace) -> None:
    """What the newest build of a model changes against the build before it."""
    with Services.for_projections(settings) as services:
        model = _model(args.name)
        builds = services.read_models.builds(args.name)
        if len(builds) < 2:
            raise CliError(f"{args.name} has one build: nothing to compare yet")
        old, new = builds[-2], builds[-1]
        positions = {b.label: services.runner.position(b) for b in (old, new)}
        if model is None:
            assert services.runner.links is not None
            changes = services.runner.links.diff(old, new)
        else:
            changes = diff_builds(services.read_models, model, old, new)
        report: dict[str, Any] = {
            "old": old.label, "new": new.label, "positions": positions,
            "changes": [{"key": c.key, "change": c.change, "fields": c.fields} for c in changes],
        }  # fmt: skip
        if args.json:
            print_json(report)
            return
        print(f"{old.label} ({old.state}, position {positions[old.label]}) ->"
              f" {new.label} ({new.state}, position {positions[new.label]})")  # fmt: skip
        if len(set(positions.values())) > 1:
            print("note: the builds are at different positions; some differences may be progress")
        print_table(["key", "change", "fields"], [[c.key, c.change, ", ".join(c.fields)]
                                                  for c in changes])  # fmt: skip
        print(f"{len(changes)} rows differ")


def drop(settings: Settings, args: argparse.Namespace) -> None:
    """Drop the retired builds of a model (the ledger is untouched)."""
    with Services.for_projections(settings) as services:
        model, links = _model(args.name), services.runner.links
        retired = [b for b in services.read_models.builds(args.name) if b.state == "retired"]
        for build in retired:
            if model is None and links is not None:
                links.drop(build)
            else:
                services.read_models.drop(build)
        labels = [b.label for b in retired]
        if args.json:
            print_json({"dropped": labels})
        else:
            print(f"dropped {len(labels)} retired builds: {', '.join(labels) or '-'}")
