"""Events: the transactional outbox, the change feed, and webhooks that deliver the events."""
