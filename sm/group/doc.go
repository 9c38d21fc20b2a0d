// Package group is the consumer-group coordinator as a pure, deterministic
// state machine, following Kafka's classic group protocol (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
// DescribeGroups, DeleteGroups) and Kafka's GroupCoordinator semantics.
//
// # Model
//
// A Coordinator owns every group whose ID hashes, by PartitionFor (Kafka's
// abs(javaHashCode) % n), to one partition of the internal offsets topic
// (OffsetsTopic, "__consumer_offsets"). The broker that leads that
// partition hosts the coordinator; a request for a group of another
// partition gets NotCoordinator.
//
// Inputs are method calls carrying the time (sm.Time) and, for requests
// that get a reply, a Handle the host chooses. Nothing is returned from a
// request method: replies come out of TakeOutput, each addressed to the
// Handle it answers, together with the Append effects the coordinator
// needs. Read-only queries (FetchOffsets, List, Describe) answer directly.
// Replies that must wait are held: a join until the join phase ends, a
// follower's sync until the leader's assignment is durable, a commit or a
// delete until its records are. Cancel drops a held request whose client
// went away. Time-driven work (session expiry, the end of a join phase at
// the rebalance timeout, of a sync phase at the rebalance timeout) happens
// in OnTimer, which the host calls at TimerAt.
//
// Member IDs are deterministic: the client ID (or the static instance ID),
// the coordinator's Epoch (the offsets partition's leader epoch, distinct
// per coordinator incarnation) and a counter ("client-7-12"). There is no
// randomness anywhere.
//
// # Group states
//
//	Empty ──join──► PreparingRebalance ──joined──► CompletingRebalance ──stored──► Stable
//	 ▲  │                ▲      │ none left                 │                         │
//	 │ delete            │      └──► Empty (gen+1)          │ change                  │ change
//	 │  ▼                └──────────────────────────────────┴─────────────────────────┘
//	Dead ──tombstones stored──► removed (failed: back to Empty)
//
//	from                 to                   when
//	Empty                PreparingRebalance   a member joins
//	PreparingRebalance   CompletingRebalance  every member rejoined, or the rebalance timeout removed
//	                                          the rest: generation+1, the leader gets all metadata
//	PreparingRebalance   Empty                the join phase ended with no members: generation+1, stored
//	CompletingRebalance  Stable               the leader's assignment is stored: every sync answered
//	CompletingRebalance  PreparingRebalance   a member joins with other protocols, leaves or expires;
//	                                          a member did not sync in time; the store failed
//	Stable               PreparingRebalance   a member joins, leaves, expires or changes protocols;
//	                                          the leader rejoins
//	Empty                Dead                 delete (tombstones in flight)
//	Dead                 removed / Empty      tombstones stored / failed
//
// Every membership change starts a rebalance, and every completed join
// phase bumps the generation. Heartbeats answer RebalanceInProgress while
// the group prepares a rebalance, telling members to rejoin. The join
// phase ends when every member has rejoined (and no KIP-394 member ID is
// still pending) or at the rebalance timeout (the largest of the members'),
// when members that did not rejoin are removed; an empty group's first
// phase is held open InitialRebalanceDelay (Kafka's
// group.initial.rebalance.delay.ms). In CompletingRebalance, members that
// have not sent a sync by the rebalance timeout are removed. A member not
// waiting on a join or sync reply is removed when it has not been heard
// (join, sync, heartbeat, commit) for its session timeout.
//
// Static members (KIP-345): a known instance ID joining without a member
// ID gets a new member ID and the old one is fenced (FencedInstanceID); in
// a Stable group a follower with unchanged protocols keeps its assignment
// with no rebalance (Kafka also rewrites the group record then; here the
// new member ID becomes durable at the next rebalance).
//
// # Offsets
//
// A commit is accepted from a member of the current generation (Stable or
// PreparingRebalance; CompletingRebalance answers RebalanceInProgress), or
// as a standalone commit (generation -1) while the group has no members;
// committing to a group that does not exist creates it when standalone.
// Each partition is checked on its own: a known partition
// (UnknownTopicOrPartition), metadata size (OffsetMetadataTooLarge), an
// offset in 0..high watermark from the host's Watermarks
// (OffsetOutOfRange), ownership (PartitionNotAssigned: when the group's
// protocol type is "consumer" and its assignor uses the standard
// assignment encoding, a member may commit the partitions of its delivered
// assignment, and the ones the last rebalance revoked from it while nobody
// else holds them — a cooperative consumer commits those after the sync),
// and monotonicity (OffsetRegression: a member's commit below what is
// committed or in flight must be flagged Seek). Standalone commits and
// resets may move an offset back; the record is then flagged as a seek.
// ResetOffsets sets offsets of a group without members (NonEmptyGroup
// otherwise). FetchOffsets returns durable offsets only.
//
// # Durability
//
// Group metadata (protocol, generation, leader, members with their
// metadata and assignments; Kafka's GroupMetadata value) and every
// committed offset are records of the offsets partition (see records.go
// for the encoding: Kafka's key layout, Weir's versioned values,
// tombstones for deletes). The coordinator emits Append effects; the host
// appends them in order, replicated like an acks=all produce, and calls
// OnAppended. Completions are applied in issue order — the log's order —
// whatever order they arrive in, so the durable view (offsets, stored
// group) is always exactly what the log holds:
//
//   - OK: the records are applied; the reply goes out.
//   - Failed (nothing written): the reply is CoordinatorNotAvailable, or
//     NotCoordinator when the broker lost the partition's leadership; a
//     failed assignment store answers every held sync with it and starts a
//     new rebalance; a failed delete returns the group to Empty.
//   - Unknown (maybe written): the coordinator can no longer know what the
//     log holds, so it fences itself (NeedsReload): every held request is
//     answered CoordinatorNotAvailable (retriable), and so is everything
//     after. The host builds a new coordinator with New, Load (the
//     partition's records, once its high watermark covers the log end, so
//     the maybe-record is either in it or gone) and FinishLoad. Either way
//     the state is consistent: replies are only sent for what is durable,
//     and an assignment is only handed to members once it is stored, so a
//     generation whose record was lost was never acted upon.
//
// Load rebuilds the groups: latest record per key wins, tombstones delete;
// a group stored with members comes back Stable in its stored generation
// (members get a fresh session from the load time), other groups Empty.
// Until FinishLoad every request gets CoordinatorLoadInProgress.
// Snapshot returns the durable state as the minimal records that rebuild
// it (also a compaction of the partition).
//
// Limits: MembersMax per group (GroupMaxSizeReached), GroupsMax per
// coordinator and AppendsInflightMax (CoordinatorNotAvailable), metadata
// bytes, 32767-byte strings (InvalidGroupID / InvalidRequest).
//
// The assignors run in the group's leader member (client side, as in
// Kafka); package assign holds them and the consumer protocol encoding.
package group
