-- Agent metric samples: an append-only time series (no update statement).

-- name: create :one
-- op: INSERT agent_metrics
-- Insert one agent metric and return it (one round trip).
-- Columns not listed keep their database defaults.
INSERT INTO agent_metrics (
    agent_id, metric_name, metric_value, metric_type, tags, recorded_at
) VALUES (
    %(agent_id)s, %(metric_name)s, %(metric_value)s,
    %(metric_type)s::metric_type, %(tags)s,
    coalesce(%(recorded_at)s::timestamptz, now())
)
RETURNING id, agent_id, metric_name, metric_value, metric_type, tags,
          recorded_at;

-- name: get :one
-- op: SELECT agent_metrics
-- One agent metric by primary key.
SELECT id, agent_id, metric_name, metric_value, metric_type, tags,
       recorded_at
FROM agent_metrics
WHERE id = %(id)s;

-- name: delete :execrows
-- op: DELETE agent_metrics
-- Delete one agent metric by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM agent_metrics WHERE id = %(id)s;

-- name: series :many
-- op: SELECT agent_metrics
-- One agent's samples of one metric with recorded_at in [since, until),
-- oldest first (since/until default to -infinity/infinity). Served by
-- ix_agent_metrics_agent_name_recorded.
SELECT id, agent_id, metric_name, metric_value, metric_type, tags, recorded_at
FROM agent_metrics
WHERE agent_id = %(agent_id)s
  AND metric_name = %(metric_name)s
  AND recorded_at >= %(since)s::timestamptz
  AND recorded_at < %(until)s::timestamptz
ORDER BY recorded_at, id;

-- name: list :many
-- op: SELECT agent_metrics
-- One agent's samples, newest first, optionally of one metric; keyset
-- pagination on (recorded_at, id) as in the other lists (first page:
-- after_recorded_at = 'infinity', after_id = the greatest uuid). Served by
-- ix_agent_metrics_agent_name_recorded (by agent_id alone when no metric).
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, agent_id, metric_name, metric_value, metric_type, tags, recorded_at
FROM agent_metrics
WHERE agent_id = %(agent_id)s
  AND (%(metric_name)s::text IS NULL OR metric_name = %(metric_name)s::text)
  AND recorded_at >= %(since)s::timestamptz
  AND recorded_at < %(until)s::timestamptz
  AND (recorded_at, id) < (%(after_recorded_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY recorded_at DESC, id DESC
LIMIT %(limit)s;

-- name: copy_with_time :copy
-- op: COPY agent_metrics
-- Bulk insert of samples that carry their own recorded_at (COPY, text format).
COPY agent_metrics (agent_id, metric_name, metric_value, metric_type, tags, recorded_at)
FROM STDIN;

-- name: copy_now :copy
-- op: COPY agent_metrics
-- Bulk insert of samples without recorded_at: the column default (now()) applies.
COPY agent_metrics (agent_id, metric_name, metric_value, metric_type, tags)
FROM STDIN;
