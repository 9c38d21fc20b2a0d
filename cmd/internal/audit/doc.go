// Package audit is Weir's security audit trail: every authentication failure,
// authorization denial, ACL rule change, certificate lifecycle step and admin
// write, as one JSON line in a rotating file on the node that saw it, and the
// reader behind `weir audit logs` and `weir audit events --follow`.
//
// It is an adapter (it reads the clock, starts goroutines, does file I/O), so
// it lives under cmd/ and nothing under sm/ imports it; state machines report
// decisions as data and the process that drives them calls Logger.Log.
//
// # One line
//
//	{"time":"2026-12-03T13:18:58.123456789Z","type":"authorization_denied","principal":"app@example.com",
//	 "source":"10.1.2.3:50512","resource":"topic:orders","operation":"write","decision":"deny","rule_id":42,
//	 "node":"broker-1","message":"write to orders denied by rule 42","details":{"serial":"0x1f"}}
//
// (one line in the file). Fields appear in that order; empty ones are left
// out except time and type; details keys are sorted; time is UTC, RFC 3339,
// always nine fractional digits. testdata/events.golden pins the shape.
//
// # Writing
//
// Log never waits for the disk. It bounds the event's fields (FieldBytesMax,
// MessageBytesMax, DetailsMax), applies the repeat rule to authentication
// failures and denials, and puts the event on a queue of Config.QueueMax; one
// goroutine drains it in batches of up to 1024 events, writes each batch with
// one write call, and (SyncBatch, the default) fsyncs once per batch. When the
// queue is full Log drops the event and counts it (Stats.Dropped); the drain
// goroutine then writes one events_dropped event carrying the count since the
// previous one (at most one per batch, so under sustained overload the count
// keeps arriving without adding more than one line in 1024). A failed
// open, write, fsync or rotation is counted (Stats.WriteErrors) and retried
// with backoff from RetryMin to RetryMax, holding the batch (new events queue,
// then drop, both counted); a short write leaves a fragment that is ended with
// a newline (readers skip it as malformed) and the interrupted line is written
// again whole. If the file is deleted or replaced under the Logger, the next
// batch notices and reopens the path. Close writes what is queued, retrying a
// failing disk for at most CloseTimeout, and counts the rest as Stats.Lost.
// Nothing here panics or exits the process.
//
// # Rotation
//
// A file is rotated before a line would take it past MaxBytes: it is renamed
// to audit-<UTC time, ns>.log (names strictly increase within a writer), and
// a separate goroutine removes backups beyond MaxBackups and, with Compress,
// gzips the rest through a synced .gz.tmp that is renamed into place, so
// readers never see half an archive. A single line larger than MaxBytes gets
// a file of its own.
//
// # The repeat rule
//
// See repeatKey: per (type, principal, source host, resource, operation), at
// most RepeatsPerSecondMax events a second are written, the rest counted into
// one events_suppressed summary per key after the second; RepeatKeysMax keys a
// second, further keys share one overflow summary. A hostile client can
// therefore write at most RepeatsPerSecondMax × (RepeatKeysMax+1) denials a
// second, and no more than QueueMax events are ever held in memory.
//
// # Reading
//
// Query reads the backups (plain or gzipped) and the current file and returns
// matching events in time order; Limit keeps the most recent (and bounds the
// memory Query uses to about 4×Limit events; without a Limit every match is
// held, so a CLI should default to one). Follow polls for
// new lines and follows rotation. Both skip and count lines that are not
// events (torn, over LineBytesMax, bad JSON, unknown type) and files that
// cannot be read; neither fails on bad content.
package audit
