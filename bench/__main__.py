"""Run every benchmark scenario: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

import importlib
import sys

SCENARIOS = [
    "bench.scheduling",
    "bench.records",
    "bench.portal",
    "bench.calendar",
    "bench.reports",
    "bench.http",
    "bench.notifications",
]


def main() -> int:
    """Run the scenarios that exist (or those named: ``python -m bench http``)."""
    from bench import env

    wanted = [f"bench.{a}" for a in sys.argv[1:]] or SCENARIOS
    services = env.start()
    try:
        for name in wanted:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError:
                print(f"(scenario {name} not present)")
                continue
            module.main()
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
