"""Client threads that write through the API and remember what was acknowledged, and when."""

from __future__ import annotations

import threading
import time

import httpx

ITEMS_PER_REQUEST = 20


class Writers:
    """`count` threads, each creating personas in a loop until stopped or the server goes away."""

    def __init__(self, url: str, headers: dict[str, str], count: int = 4, items: int = ITEMS_PER_REQUEST) -> None:
        self.url, self.headers, self.items = url, headers, items
        self.lock = threading.Lock()
        self.acked: dict[str, float] = {}  # persona id -> when its create was answered 200
        self.answers: list[tuple[float, float, int]] = []  # (sent, answered, status) of every answered create
        self.in_flight: dict[int, float] = {}  # writer -> when its unanswered request was sent
        self.refused: list[float] = []  # when each request that got no answer (a transport error) was sent
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(w,), daemon=True) for w in range(count)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _loop(self, writer: int) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=120) as http:
            request = 0
            while not self.stop.is_set():
                names = [f"w{writer}-{request}-{i}" for i in range(self.items)]
                sent = time.monotonic()
                with self.lock:
                    self.in_flight[writer] = sent
                try:
                    response = http.post(
                        "/api/v5/artifacts/personas/create",
                        json={"personas": [{"name": n, "description": f"about {n}"} for n in names]},
                    )
                except httpx.TransportError:
                    with self.lock:
                        self.in_flight.pop(writer, None)
                        self.refused.append(sent)
                    if self.stop.wait(0.05):
                        return
                    continue  # refused while the server stops: not acknowledged, so nothing is owed
                answered = time.monotonic()
                with self.lock:
                    self.in_flight.pop(writer, None)
                    self.answers.append((sent, answered, response.status_code))
                    if response.status_code == 200:
                        results = response.json()["results"]
                        assert all(r["success"] for r in results), results
                        self.acked.update((r["persona_id"], answered) for r in results)
                request += 1

    def oldest_in_flight(self) -> float | None:
        with self.lock:
            return min(self.in_flight.values(), default=None)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def wait_for(self, personas: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.acked_count() < personas:
            assert time.monotonic() < deadline, f"only {self.acked_count()} personas acknowledged"
            time.sleep(0.05)

    def acked_before(self, moment: float) -> set[str]:
        with self.lock:
            return {pid for pid, at in self.acked.items() if at < moment}
