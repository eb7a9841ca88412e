"""Shared by the bench scripts' summaries: the JSON lines `interlockctl
--json bench` wrote (one run per line, `label` naming its row), grouped by
label, and the figures every script prints.

    import sys; sys.path.insert(0, "bench"); from summary import load, med, rng, table
"""
import json
import statistics


def load(path):
    """The runs in `path`, by label, in the order labels first appear."""
    by = {}
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            by.setdefault(r["label"], []).append(r)
    return by


def med(by, label, key):
    """The median of `key` over a label's runs (a missing figure is 0)."""
    return statistics.median(x[key] or 0 for x in by[label])


def rng(by, label, key, fmt="{:.1f}"):
    """min/median/max of `key` over a label's runs, as text."""
    v = sorted(x[key] or 0 for x in by[label])
    return "/".join(fmt.format(x) for x in (v[0], statistics.median(v), v[-1]))


def table(by, width=20):
    """One row per label: server CPU per request (min/median/max),
    throughput, p50 and p99 (medians), errors (all runs)."""
    print(f"{'run':<{width}}{'cpu us/req min/med/max':>26}{'req/s':>10}{'p50 us':>8}{'p99 us':>8}{'errors':>8}")
    for label in by:
        print(
            f"{label:<{width}}{rng(by, label, 'server_cpu_us_per_request'):>26}"
            f"{med(by, label, 'throughput_per_sec'):>10.0f}{med(by, label, 'p50_us'):>8.0f}"
            f"{med(by, label, 'p99_us'):>8.0f}{sum(x['errors'] for x in by[label]):>8}"
        )
