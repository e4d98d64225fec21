"""Serving: ``kazft serve`` against ``mlx_lm.server``, same model, machine and requests.

Both servers run as their own process on 127.0.0.1 and are asked the same
questions (the legal data's instructions, the legal recipe's system prompt,
greedy, ``max_tokens`` fixed) over HTTP with streaming, by 1, 4 and 8
concurrent clients, each sending its requests one after another:

* one adapter: every request names adapter A;
* two adapters alternating: request ``j`` of client ``i`` names A or B by
  ``(i + j) % 2``. kazft serves both from one base (the ``model`` field);
  mlx_lm.server is started on the 4-bit base and each request names its
  adapter (``"adapters": PATH``), so a switch reloads the model, as it does.

Measured per run: aggregate generated tokens/s (all completion tokens over the
wall time of the run), time to first token (request sent -> first content
chunk) p50/p95, the server's peak RSS (VmHWM) and, for kazft, MLX peak memory
from /metrics. kazft's memory target compares its 2-adapter server with its
1-adapter server. A warm-up request per adapter precedes each timed run.
Prompts are identical token for token: kazft adds the adapter's system prompt
(its recipe), mlx-lm gets it as a system message; usage.prompt_tokens of both
are recorded to show it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.cases.generate import make_adapter
from benchmarks.cases.serve_http import Server, free_port, one_request, run_clients
from benchmarks.models import BuiltModel

CLIENTS = (1, 4, 8)
MAX_TOKENS = 48
REQUESTS = {1: 12, 4: 24, 8: 48}  # per run, split evenly over the clients


def questions(n: int) -> list[str]:
    from benchmarks.synthetic import LEGAL

    recs = [json.loads(x) for x in LEGAL.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [str(r["instruction"]).strip() for r in recs[:n]]


def system_prompt() -> str:
    from benchmarks.cases.train import LEGAL_RECIPE
    from kazft.recipe import load_recipe

    return str(load_recipe(LEGAL_RECIPE).data.system_prompt or "").strip()


def adapters(model: BuiltModel, workdir: Path) -> list[Path]:
    """Two adapters (different seeds), each with a recipe.yaml carrying the system prompt."""
    import yaml

    out = []
    for seed in (0, 1):
        folder = make_adapter(
            model, workdir / "serve" / model.spec.name / f"adapter-{seed}", seed=seed
        )
        recipe = {
            "model": {"base": str(model.source), "quantize": {"bits": 4, "group_size": 64}},
            "data": {"train": "unused.jsonl", "system_prompt": system_prompt()},
            "output": {"dir": str(folder.parent / f"run-{seed}")},
        }
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, allow_unicode=True))
        cfg = json.loads((folder / "adapter_config.json").read_text())
        cfg["quantize"] = {"bits": 4, "group_size": 64}
        (folder / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
        out.append(folder)
    return out


def bodies_for(
    tool: str, n_clients: int, n_adapters: int, names: list[Any], qs: list[str]
) -> list[list[dict]]:
    per = REQUESTS[n_clients] // n_clients
    out = []
    for i in range(n_clients):
        mine = []
        for j in range(per):
            k = (i + j) % n_adapters
            q = qs[(i * per + j) % len(qs)]
            mine.append(request_body(tool, names[k], q))
        out.append(mine)
    return out


def request_body(tool: str, name: Any, question: str) -> dict:
    body: dict[str, Any] = {
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tool == "kazft":
        body |= {"model": name, "messages": [{"role": "user", "content": question}]}
    else:
        model, adapter = name
        body |= {
            "model": model,
            "adapters": adapter,
            "messages": [
                {"role": "system", "content": system_prompt()},
                {"role": "user", "content": question},
            ],
        }
    return body


def kazft_metrics(url: str) -> dict:
    import httpx

    out = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        for key in ("kazft_memory_peak_bytes", "kazft_memory_active_bytes", "kazft_adapter_bytes"):
            if line.startswith(key + " "):
                out[key] = float(line.split()[1])
    return out


def run_case(
    model: BuiltModel, workdir: Path, log: Any = print, memory_model: BuiltModel | None = None
) -> dict:
    ads = adapters(model, workdir)
    qs = questions(64)
    logs = workdir / "logs"
    result: dict[str, Any] = {
        "model": model.as_dict(),
        "max_tokens": MAX_TOKENS,
        "requests": REQUESTS,
        "runs": [],
    }
    py = sys.executable
    mlx = Server(
        "mlx_lm.server",
        [
            py,
            "-m",
            "mlx_lm",
            "server",
            "--model",
            str(model.quantized),
            "--port",
            str(port := free_port()),
        ],
        port,
        logs / "serve.mlx-lm.log",
    )
    mlx_names = [(str(model.quantized), str(a)) for a in ads]
    try:
        mlx.wait()
        for n_adapters in (1, 2):
            argv = [py, "-m", "kazft", "serve", "--port", str(kport := free_port())]
            for k in range(n_adapters):
                argv += ["--adapter", f"a{k}={ads[k]}"]
            kz = Server(
                f"kazft serve ({n_adapters})", argv, kport, logs / f"serve.kazft-{n_adapters}.log"
            )
            try:
                kz.wait()
                names = [f"a{k}" for k in range(n_adapters)]
                for tool, url, nm in (("kazft", kz.url, names), ("mlx-lm", mlx.url, mlx_names)):
                    for k in range(n_adapters):  # warm-up per adapter
                        one_request(url, request_body(tool, nm[k], qs[-1]))
                for clients in CLIENTS:
                    for tool, server, nm in (("kazft", kz, names), ("mlx-lm", mlx, mlx_names)):
                        log(
                            f"serve {model.spec.name}: {tool}, {clients} clients, {n_adapters} adapter(s)"
                        )
                        run = run_clients(server.url, bodies_for(tool, clients, n_adapters, nm, qs))
                        run |= {"tool": tool, "clients": clients, "adapters": n_adapters}
                        run["peak_rss_gb"] = server.peak_rss_gb()
                        if tool == "kazft":
                            run["metrics"] = kazft_metrics(server.url)
                        result["runs"].append(run)
            finally:
                kz.stop()
    finally:
        mlx.stop()
    if memory_model is not None:
        try:
            result["memory"] = memory_case(memory_model, workdir, log)
        except RuntimeError as err:
            result["memory"] = {"error": str(err)}
    result["summary"] = summarise(result["runs"], result.get("memory"))
    return result


def memory_case(model: BuiltModel, workdir: Path, log: Any = print) -> dict:
    """kazft serve's memory with one adapter and with two, on a model with the real
    Gemma 3 4B shapes (reduced depth): the servers load, answer one short request per
    adapter, and report MLX active/peak memory (/metrics) and peak RSS."""
    ads = adapters(model, workdir)
    out: dict[str, Any] = {"model": model.as_dict()}
    # n = 0: a first start that quantises the base into kazft's cache (a one-off peak
    # that is no serving cost); then 1 and 2 adapters start from that cache.
    for n in (0, 1, 2):
        port = free_port()
        argv = [sys.executable, "-m", "kazft", "serve", "--port", str(port)]
        for k in range(max(n, 1)):
            argv += ["--adapter", f"a{k}={ads[k]}"]
        log(f"serve memory {model.spec.name}: kazft with {max(n, 1)} adapter(s)")
        server = Server(
            f"kazft serve ({n})", argv, port, workdir / "logs" / f"serve.memory-{n}.log"
        )
        try:
            server.wait()
            if n == 0:
                continue
            for k in range(n):
                body = request_body("kazft", f"a{k}", questions(1)[0]) | {"max_tokens": 4}
                one_request(server.url, body)
            out[str(n)] = kazft_metrics(server.url) | {"peak_rss_gb": server.peak_rss_gb()}
        finally:
            server.stop()
    return out


def summarise(runs: list[dict], memory: dict | None = None) -> dict:
    def get(tool: str, clients: int, n: int) -> dict:
        return next(
            (r for r in runs if (r["tool"], r["clients"], r["adapters"]) == (tool, clients, n)), {}
        )

    def ratio(a: Any, b: Any) -> float | None:
        return a / b if a and b else None

    one = ratio(get("kazft", 1, 1).get("tokens_s"), get("mlx-lm", 1, 1).get("tokens_s"))
    eight = ratio(get("kazft", 8, 2).get("tokens_s"), get("mlx-lm", 8, 2).get("tokens_s"))
    one_, two = (memory or {}).get("1"), (memory or {}).get("2")
    if not (one_ and two):  # no 4B-shape memory case: the throughput servers' figures
        one_ = get("kazft", 8, 1).get("metrics", {}) | {
            "peak_rss_gb": get("kazft", 8, 1).get("peak_rss_gb")
        }
        two = get("kazft", 8, 2).get("metrics", {}) | {
            "peak_rss_gb": get("kazft", 8, 2).get("peak_rss_gb")
        }
    m1, m2 = one_.get("kazft_memory_peak_bytes"), two.get("kazft_memory_peak_bytes")
    r1, r2 = one_.get("peak_rss_gb"), two.get("peak_rss_gb")
    return {
        "tokens_s_ratio_1_client": one,
        "target_1_client": one is not None and one >= 1.0,
        "tokens_s_ratio_8_clients_2_adapters": eight,
        "target_8_clients_2_adapters": eight is not None and eight >= 2.0,
        "mlx_peak_2_over_1_adapter": ratio(m2, m1),
        "rss_peak_2_over_1_adapter": ratio(r2, r1),
        "target_memory": (ratio(m2, m1) or 9) <= 1.05 and (ratio(r2, r1) or 9) <= 1.05,
        "memory_model": (memory or {}).get("model", {}).get("name"),
        "adapter_bytes_1_2": [one_.get("kazft_adapter_bytes"), two.get("kazft_adapter_bytes")],
        "mlx_peak_gb_1_2": [m / 1e9 if m else None for m in (m1, m2)],
    }


def markdown_rows(result: dict) -> tuple[list[str], list[str]]:
    from benchmarks.report import fmt

    name = result["model"]["name"]
    rows: list[str] = []
    runs = result["runs"]
    for n in (1, 2):
        for clients in CLIENTS:
            k = next(
                (
                    r
                    for r in runs
                    if (r["tool"], r["clients"], r["adapters"]) == ("kazft", clients, n)
                ),
                None,
            )
            m = next(
                (
                    r
                    for r in runs
                    if (r["tool"], r["clients"], r["adapters"]) == ("mlx-lm", clients, n)
                ),
                None,
            )
            if not k or not m:
                continue
            case = f"serve {name} {clients} client{'s' if clients > 1 else ''}, {n} adapter{'s' if n > 1 else ''}"
            for metric, key in (
                ("aggregate tokens/s", "tokens_s"),
                ("TTFT p50 s", "ttft_p50_s"),
                ("TTFT p95 s", "ttft_p95_s"),
                ("server peak RSS GB", "peak_rss_gb"),
            ):
                a, b = k.get(key), m.get(key)
                r = f"{a / b:.2f}x" if a and b else "-"
                rows.append(f"| {case} | {metric} | {fmt(a)} | {fmt(b)} | {r} |")
    s = result["summary"]

    def x(v: Any) -> str:
        return f"{v:.2f}x" if v is not None else "not measured"

    notes = [
        f"serve {name}: targets: 1 client >= 1.0x mlx_lm.server: {x(s['tokens_s_ratio_1_client'])} "
        f"({'met' if s['target_1_client'] else 'NOT met'}); 8 clients over 2 adapters >= 2x: "
        f"{x(s['tokens_s_ratio_8_clients_2_adapters'])} "
        f"({'met' if s['target_8_clients_2_adapters'] else 'NOT met'}); kazft memory with 2 adapters "
        f"/ with 1 ({s.get('memory_model') or name}): MLX peak {x(s['mlx_peak_2_over_1_adapter'])} "
        f"({_gb(s.get('mlx_peak_gb_1_2'))}), peak RSS {x(s['rss_peak_2_over_1_adapter'])}, "
        f"adapters' side tensors {_mb(s.get('adapter_bytes_1_2'))} "
        f"({'met' if s['target_memory'] else 'NOT met'}, <= 1.05x).",
        f"serve {name}: {MAX_TOKENS} max tokens, greedy, streamed; requests per run "
        f"{REQUESTS}; prompt tokens seen (kazft / mlx-lm must match): "
        + "; ".join(
            f"{r['tool']} {r['clients']}c/{r['adapters']}a {r['prompt_tokens'][:3]}"
            for r in runs[:2]
        )
        + ".",
    ]
    for r in runs:
        if r["errors"]:
            notes.append(
                f"serve {name} {r['tool']} {r['clients']}c/{r['adapters']}a errors: {r['errors']}"
            )
    return rows, notes


def _gb(pair: Any) -> str:
    if not pair or None in pair:
        return "-"
    return f"{pair[0]:.3f} vs {pair[1]:.3f} GB"


def _mb(pair: Any) -> str:
    if not pair or None in pair:
        return "-"
    return f"{pair[0] / 1e6:.1f} vs {pair[1] / 1e6:.1f} MB"
