"""Every Prometheus metric Loomwork exports, defined in one place (API.md section 12).

Other modules import the objects they record into and never define their own, so the names, labels and
multiprocess modes stay consistent. Under `serve --workers N` each worker writes its figures into
PROMETHEUS_MULTIPROC_DIR (which `serve` sets before it starts the workers) and the supervisor sums them
when scraped; with one worker the process serves its own registry.

Labels stay bounded: a route is its template (`/api/v5/artifacts/{kind}/get`, never the raw path), a
method one of the seven known ones or `other`, a status is a number, and nothing carries an id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Buckets for request latency and for waits: from a millisecond to the 30 s SQLite busy timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# HTTP (recorded by loomwork.ops.middleware for every request, including MCP's in-process API calls).
HTTP_REQUESTS = Counter(
    "loomwork_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "loomwork_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_PROGRESS = Gauge(
    "loomwork_http_requests_in_progress", "Requests being served right now.", multiprocess_mode="livesum"
)

# Database (recorded by loomwork.ops.database on the app's engine).
DB_CONNECTIONS_IN_USE = Gauge(
    "loomwork_db_connections_in_use", "Connections checked out of the pool.", multiprocess_mode="livesum"
)
DB_POOL_CHECKOUT = Histogram(
    "loomwork_db_pool_checkout_seconds",
    "Time to get a connection from the pool: a wait when every pooled connection is in use (PostgreSQL "
    "pool_size + max_overflow), or the time to open a new one.",
    buckets=LATENCY_BUCKETS,
)
DB_LOCK_WAIT = Histogram(
    "loomwork_db_lock_wait_seconds",
    "SQLite: time a write transaction waited for the write lock, behind this worker's other writers "
    "(lock=process), then behind other workers' in BEGIN IMMEDIATE (lock=database, up to the busy timeout).",
    ["lock"],
    buckets=LATENCY_BUCKETS,
)
DB_BUSY = Counter(
    "loomwork_db_busy_errors",
    "SQLite: statements that gave up on a lock after the busy timeout (answered 503 database_busy).",
)

# Webhooks (issue 15): the delivery code records these.
#   WEBHOOK_DELIVERIES.labels(outcome="delivered").inc()   outcome: delivered | failed | retrying | dropped
#   WEBHOOK_LAG.observe(seconds from the event to its delivery (or final failure))
WEBHOOK_DELIVERIES = Counter("loomwork_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"])
WEBHOOK_LAG = Histogram(
    "loomwork_webhook_delivery_lag_seconds",
    "Time from an event to its webhook delivery.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)

# Resolve cache (issue 13): the resolve code records these.
#   RESOLVE_CACHE.labels(result="hit").inc()   result: hit | miss
RESOLVE_CACHE = Counter("loomwork_resolve_cache", "Resolve cache lookups, by result (hit or miss).", ["result"])
for _result in ("hit", "miss"):  # exported as 0 from the start, so a rate over them is defined
    RESOLVE_CACHE.labels(result=_result)

# loomwork_waiting_proposals{kind} is counted in the database at scrape time: see loomwork.ops.exposition.
