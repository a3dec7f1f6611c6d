"""Discrete-event simulation of multi-bin batching (Algorithm 1) with one FCFS server.

Requests arrive as a Poisson process, go to the bin of their *predicted* length, and every time a bin holds B
requests they leave as a batch for the service queue. The server takes batches first come, first served; a
batch occupies it for the *actual* length of its longest request. Optional timeout: a bin whose oldest request
has waited `timeout` closes a partial batch (the flush rule against starving bins). At the end of the arrival
stream every bin flushes what it holds, so every request is served exactly once.

Vectorised: batch formation is index arithmetic per bin; the FCFS queue is Lindley's recursion written as a
cumulative maximum, finish_i = S_i + max_{j<=i} (ready_j - S_{j-1}) with S the running sum of service times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Result:
    arrival: np.ndarray  # per request
    length: np.ndarray
    bin: np.ndarray
    batch: np.ndarray  # index into the batch arrays
    finish: np.ndarray  # when the request's batch finished
    batch_ready: np.ndarray  # per batch: when it joined the service queue
    batch_start: np.ndarray
    batch_service: np.ndarray  # = max actual length of its requests
    batch_size: np.ndarray
    batch_flushed: np.ndarray  # closed by timeout or end of stream, not by reaching B

    @property
    def latency(self):
        return self.finish - self.arrival


def assign_bins(predicted: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """Bin i holds predictions in [b_i, b_{i+1}); predictions outside the boundaries go to the end bins."""
    return np.clip(np.searchsorted(boundaries, predicted, side="right") - 1, 0, len(boundaries) - 2)


def _batches_full(order_in_bin: np.ndarray, B: int):
    """Batch ids within one bin when batches close only at B requests (the last one may be partial)."""
    return np.arange(len(order_in_bin)) // B


def _batches_timeout(arr: np.ndarray, B: int, timeout: float):
    """Sequential batch ids within one bin with the timeout rule; returns ids and each batch's close time."""
    ids = np.empty(len(arr), dtype=np.int64)
    close = []
    b, first, count = 0, 0, 0
    for i, t in enumerate(arr):
        if count and t - arr[first] > timeout:  # the oldest waited too long: the partial batch left at its deadline
            close.append(arr[first] + timeout)
            b, count = b + 1, 0
        if count == 0:
            first = i
        ids[i] = b
        count += 1
        if count == B:
            close.append(t)
            b, count = b + 1, 0
    if count:
        close.append(arr[first] + timeout)  # the timeout fires whether or not more requests come
    return ids, close


def simulate(arrival: np.ndarray, length: np.ndarray, predicted: np.ndarray, boundaries: np.ndarray, B: int,
             timeout: float | None = None) -> Result:
    n = len(arrival)
    if not (np.all(np.diff(arrival) >= 0) and len(length) == n == len(predicted)):
        raise ValueError("arrivals must be sorted and lengths/predictions given for every request")
    bins = assign_bins(predicted, boundaries)
    end = float(arrival[-1]) if n else 0.0
    batch = np.empty(n, dtype=np.int64)
    ready, size, flushed = [], [], []
    for i in range(len(boundaries) - 1):
        idx = np.flatnonzero(bins == i)
        if not len(idx):
            continue
        if timeout is None:
            local = _batches_full(idx, B)
            counts = np.bincount(local)
            last = np.cumsum(counts) - 1  # position of each batch's last request within the bin
            close = arrival[idx[last]].astype(float)
            part = counts < B
            close[part] = end
        else:
            local, close_list = _batches_timeout(arrival[idx], B, timeout)
            counts = np.bincount(local)
            close = np.array(close_list, float)
            part = counts < B
        batch[idx] = local + len(ready)
        ready.extend(close.tolist())
        size.extend(counts.tolist())
        flushed.extend(part.tolist())
    ready, size, flushed = np.array(ready), np.array(size), np.array(flushed, bool)
    service = np.zeros(len(ready))
    np.maximum.at(service, batch, length)
    # FCFS: by ready time (stable, so ties keep bin order)
    order = np.argsort(ready, kind="stable")
    s = service[order]
    S = np.cumsum(s)
    finish_sorted = S + np.maximum.accumulate(ready[order] - (S - s))
    finish_b = np.empty_like(finish_sorted)
    finish_b[order] = finish_sorted
    start_b = finish_b - service
    return Result(arrival, length, bins, batch, finish_b[batch], ready, start_b, service, size, flushed)


def poisson_arrivals(n: int, lam: float, rng) -> np.ndarray:
    return np.cumsum(rng.exponential(1.0 / lam, n))


def noisy_prediction(length: np.ndarray, sigma: float, rng) -> np.ndarray:
    """l_hat = l * exp(sigma * N(0, 1)): a multiplicative (log-normal) length-predictor error."""
    return length * np.exp(sigma * rng.standard_normal(len(length))) if sigma > 0 else length.copy()


def saturated_throughput(res: Result, window=(0.1, 0.9)) -> float:
    """Capacity measured with the queue: served requests per unit time between two batch completions.

    Run with arrivals faster than any k can serve, so the queue only grows. Requests finishing between the
    completions of the batches at the `window` quantiles (in completion order) are counted over that span:
    the empty-queue start and the end-of-stream flush of partial batches fall outside it. A server that sat
    idle inside the window (arrivals slower than capacity) shows up as a lower throughput."""
    done = np.sort(res.finish)
    lo, hi = (int(q * (len(done) - 1)) for q in window)
    return float((hi - lo) / (done[hi] - done[lo]))


def stability(res: Result) -> dict:
    """Is the queue stable? Measured, not from the closed form: served rate against the arrival rate, and mean
    latency in the second half of the arrivals against the first (it grows without bound when unstable)."""
    n = len(res.arrival)
    order = np.argsort(res.arrival, kind="stable")
    lat = res.latency[order]
    first, second = lat[int(0.1 * n):n // 2].mean(), lat[n // 2:int(0.9 * n)].mean()
    arrivals_rate = (n - 1) / (res.arrival[order[-1]] - res.arrival[order[0]])
    served = saturated_throughput(res)
    growth = float(second / first) if first > 0 else float("inf")
    return {"served_over_arrival": float(served / arrivals_rate), "latency_growth": growth,
            "measured_stable": bool(served > 0.97 * arrivals_rate and growth < 1.5)}


def latency_stats(res: Result, warmup: float = 0.1) -> dict:
    """Mean and p99 latency over requests after the first `warmup` fraction (the queue starts empty)."""
    lat = res.latency[int(warmup * len(res.latency)):]
    return {"mean_latency": float(lat.mean()), "p99_latency": float(np.quantile(lat, 0.99))}


def throughput(res: Result) -> float:
    """Served requests per unit time over the whole run (equals lam while the queue is stable)."""
    return float(len(res.arrival) / (res.finish.max() - res.arrival.min()))
