"""The serve benchmark's arithmetic on fixed inputs (the measured numbers are never
asserted): targets, ratios and the table rows."""

from __future__ import annotations

from benchmarks.cases.serve import REQUESTS, bodies_for, markdown_rows, summarise


def run(tool: str, clients: int, adapters: int, tps: float, peak: float, rss: float) -> dict:
    r = {
        "tool": tool,
        "clients": clients,
        "adapters": adapters,
        "tokens_s": tps,
        "ttft_p50_s": 0.1,
        "ttft_p95_s": 0.2,
        "peak_rss_gb": rss,
        "errors": [],
        "prompt_tokens": [40],
    }
    if tool == "kazft":
        r["metrics"] = {"kazft_memory_peak_bytes": peak}
    return r


def test_summary_targets_and_rows() -> None:
    runs = []
    for n in (1, 2):
        for c in (1, 4, 8):
            runs.append(run("kazft", c, n, 100.0 * c, 1000.0 + n, 0.5))
            runs.append(run("mlx-lm", c, n, 100.0 if n == 1 else 20.0, 0, 0.5))
    s = summarise(runs)
    assert s["tokens_s_ratio_1_client"] == 1.0 and s["target_1_client"]
    assert s["tokens_s_ratio_8_clients_2_adapters"] == 40.0 and s["target_8_clients_2_adapters"]
    assert abs(s["mlx_peak_2_over_1_adapter"] - 1002 / 1001) < 1e-9 and s["target_memory"]
    result = {"model": {"name": "tiny"}, "runs": runs, "summary": s}
    rows, notes = markdown_rows(result)
    assert len(rows) == 2 * 3 * 4
    assert "| serve tiny 8 clients, 2 adapters | aggregate tokens/s | 800 | 20.0 | 40.00x |" in rows
    assert "met" in notes[0] and "NOT met" not in notes[0]
    slow = summarise([{**r, "tokens_s": 50.0} if r["tool"] == "kazft" else r for r in runs])
    assert not slow["target_1_client"]


def test_two_adapters_alternate_per_client() -> None:
    bodies = bodies_for("kazft", 4, 2, ["a0", "a1"], ["q1", "q2", "q3"])
    per = REQUESTS[4] // 4
    assert len(bodies) == 4 and all(len(b) == per for b in bodies)
    assert [b["model"] for b in bodies[0]] == ["a0", "a1"] * (per // 2)
    assert [b["model"] for b in bodies[1]] == ["a1", "a0"] * (per // 2)
    mlx = bodies_for("mlx-lm", 1, 2, [("base", "A"), ("base", "B")], ["q"])
    assert [b["adapters"] for b in mlx[0]] == ["A", "B"] * (REQUESTS[1] // 2)
    assert mlx[0][0]["messages"][0]["role"] == "system"
