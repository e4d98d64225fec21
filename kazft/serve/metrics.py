"""Prometheus metrics (prometheus_client, one registry per app).

Counters and histograms are written where things happen (the routers count
requests by status; the decoder thread observes time to first token and the
gap between tokens); gauges (queue depth, memory) are read at scrape time.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
GAP_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "kazft_requests",
            "HTTP API requests by endpoint and status",
            ["endpoint", "status"],
            registry=r,
        )
        self.generated = Counter(
            "kazft_generated_tokens", "tokens generated, stop tokens included", registry=r
        )
        self.prompt = Counter("kazft_prompt_tokens", "prompt tokens read", registry=r)
        self.prompt_cached = Counter(
            "kazft_prompt_cached_tokens", "prompt tokens served from the prefix cache", registry=r
        )
        self.ttft = Histogram(
            "kazft_time_to_first_token_seconds",
            "from admission to the first generated token",
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.token_gap = Histogram(
            "kazft_token_latency_seconds",
            "time between consecutive tokens of one answer",
            buckets=GAP_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "kazft_requests_in_flight", "requests admitted, not finished", registry=r
        )
        self.queue = Gauge("kazft_queue_depth", "requests waiting for a batch row", registry=r)
        self.memory = Gauge("kazft_memory_active_bytes", "MLX active memory", registry=r)
        self.peak = Gauge("kazft_memory_peak_bytes", "MLX peak memory since start", registry=r)
        self.base_bytes = Gauge("kazft_base_bytes", "bytes of the shared base weights", registry=r)
        self.adapter_bytes = Gauge(
            "kazft_adapter_bytes", "bytes of all adapters' side tensors", registry=r
        )
        self.stalled = Gauge(
            "kazft_stalled_seconds",
            "seconds without progress while requests are in flight",
            registry=r,
        )

    # --- called by the decoder thread (prometheus_client is thread-safe) -------------

    def admitted(self, prompt_tokens: int, cached_tokens: int) -> None:
        self.prompt.inc(prompt_tokens)
        self.prompt_cached.inc(cached_tokens)

    def token(self, first_after: float | None, gap: float | None) -> None:
        self.generated.inc()
        if first_after is not None:
            self.ttft.observe(first_after)
        if gap is not None:
            self.token_gap.observe(gap)

    def render(self, scheduler: Any) -> bytes:
        import mlx.core as mx

        self.in_flight.set(scheduler.pending)
        self.queue.set(scheduler.queued)
        self.memory.set(mx.get_active_memory())
        self.peak.set(mx.get_peak_memory())
        self.stalled.set(scheduler.stalled_for())
        return generate_latest(self.registry)
