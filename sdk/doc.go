// Package sdk is Weir's Go client: a Client that connects to a cluster over
// QUIC with mutual TLS and keeps its metadata, a batching Producer and a
// Consumer that reads assigned partitions, or the partitions its consumer
// group assigns it.
//
// # Connecting
//
// A Client needs only a list of bootstrap broker addresses and a client
// certificate (CommonName "client-<label>", see TLSFromDir). NewClient dials
// the addresses in turn, learning each broker's id from its verified
// certificate, until one answers a MetadataRequest; brokers answer from
// their copy of the controller's metadata, which names every broker's
// address and every partition's leader. Requests then go straight to the
// partition leaders, each over the Client's one transport.
//
// # Outcomes: written, not written, unknown
//
// Every produce ends in exactly one of three ways, and the error says which:
//
//   - nil: the records were written at the requested ack level, at the
//     offsets in the Result;
//   - an *OutcomeUnknownError (errors.Is(err, ErrTimeout)): the request
//     reached, or may have reached, the leader but no decisive answer came
//     back (TIMEOUT, LEADERSHIP_LOST, NOT_ENOUGH_REPLICAS_AFTER_APPEND, no
//     reply within RequestTimeout, the connection closed before the reply
//     came — ErrConnectionLost, at once, with the broker's reason — or the
//     wait was abandoned). The records
//     may or may not have been written; the SDK never retries such a
//     request, because a retry could write them twice — unless the
//     producer is idempotent (below);
//   - any other error: the records were certainly not written (rejected
//     locally, refused by the broker, or never sent).
//
// A broker that closes the connection (its shutdown, a revoked
// certificate) fails the requests waiting on it at once with
// ErrConnectionLost naming who closed it and why; the next request
// reconnects. A broker that refuses the certificate as revoked fails the
// request with ErrUnreachable saying so, and it is not retried.
//
// Retriable refusals (NOT_LEADER, LEADER_NOT_AVAILABLE, UNKNOWN_LEADER_EPOCH,
// FENCED_LEADER_EPOCH, NOT_ENOUGH_REPLICAS, STORAGE_ERROR; sm.Code.Retriable)
// are retried with exponential backoff and jitter until
// ProducerConfig.DeliveryTimeout, refreshing metadata first when the
// refusal says leadership moved.
//
// # Idempotent producers
//
// With ProducerConfig.Idempotent the producer takes a producer ID
// (InitProducerID) before its first send and numbers each partition's
// records; leaders store each batch once and in order. It then retries
// unknown outcomes too, with the same numbers, until DeliveryTimeout (a
// retry of a batch the leader holds is answered with the original's
// offset), keeps up to five batches per partition in flight without
// reordering them, and reports outcomes in the order sent. A record fails
// with an *OutcomeUnknownError only when its retries ran out; the
// partition then goes on under a new producer ID. It needs acks all.
// Client.Stats counts duplicates answered, out-of-order retries and
// sequence resets.
//
// # Topics and offsets
//
// Topics, Topic and Partitions answer from the Client's metadata: a topic's
// ID (a new one each time its name is created), settings, partitions,
// leaders and in-sync replicas. ListOffsets asks every partition's leader
// for its log start (older records were deleted by retention), high
// watermark (the end of what consumers read) and log end, retrying at the
// new leader when leadership moved.
//
// # Consumer groups
//
// A Consumer made with ConsumerConfig.Group and Topics is a member of that
// consumer group (Kafka's classic group protocol, coordinated by the broker
// leading the group's partition of __consumer_offsets): the group shares
// the topics' partitions among its members, each partition read by one
// member, and remembers each partition's committed offset, so a restarted
// member, or the one that takes over a partition, reads on from there.
// Poll (or Receive) joins the group; a goroutine heartbeats and follows
// rebalances, telling the application through OnAssigned, OnRevoked (given
// up in order, after a commit) and OnLost (taken away: the member was out
// of touch past SessionTimeout). The assignor runs in the member the
// coordinator picks as leader: "cooperative-sticky" (the default; members
// keep reading during a rebalance and only the partitions that must move
// do, in two rounds) or "range" (eager: every member gives up everything,
// then the ranges are handed out).
//
// Progress is committed with Commit (explicit offsets), Mark and
// CommitMarked, or AutoCommit (at intervals, before a revocation and at
// Close), always the offset of the next record to read, and only what the
// application has been given: a Poll's records count once Poll is called
// again, Receive's once acknowledged (Delivery.Ack; commits advance over
// acknowledged records contiguously, Nack redelivers). That makes delivery
// at least once: a crash redelivers what was not committed. A committed
// offset only moves back by a Seek, which the next commit sends as an
// explicit seek.
//
// The admin helpers ListGroups, DescribeGroup, DeleteGroup,
// CommittedOffsets and ResetOffsets serve `weir groups`. The group codes
// are *BrokerError values matching ErrRebalanceInProgress,
// ErrIllegalGeneration, ErrUnknownMember, ErrFencedInstanceID,
// ErrGroupNotEmpty, ErrGroupNotFound, ErrPartitionNotAssigned,
// ErrOffsetRegression, ErrInvalidGroup, ErrGroupAuthorizationFailed and
// ErrCoordinatorNotAvailable.
//
// # Concurrency
//
// Client and Producer are safe for concurrent use. A Consumer is safe too,
// but its positions are one cursor: concurrent Polls on one Consumer return
// interleaved records, so use one goroutine per Consumer. Close methods wait
// for every goroutine the SDK started.
package sdk
