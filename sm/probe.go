package sm

import "strconv"

// Probe names a protocol path that testing must see taken now and then: a
// "sometimes" assertion in the manner of TigerBeetle and Antithesis. State
// machines report a probe in Ready.Probes when they take its path; the
// simulator counts them per campaign and its coverage gate fails when a
// listed probe never fires, so faults that stop reaching a path are noticed.
// Production drivers may ignore them. Probes are not on any wire; append new
// ones before probeCount.
type Probe uint16

// Probes. Each is reported where the path is decided, once per occurrence.
const (
	probeNone Probe = iota
	// ProbeISRShrinkLagTime: a leader proposes an ISR without a follower
	// that has not caught up within the replica lag time.
	ProbeISRShrinkLagTime
	// ProbeISRShrinkMaxLag: a leader proposes an ISR without a follower
	// that is more than max_replication_lag records behind.
	ProbeISRShrinkMaxLag
	// ProbeISRExpand: a leader proposes an ISR with a follower that caught up.
	ProbeISRExpand
	// ProbeFollowerTruncated: a follower cut its log at the end of the
	// epoch its leader named (divergence).
	ProbeFollowerTruncated
	// ProbeStaleFetchAnswerIgnored: a follower ignored a replica fetch
	// answer that does not echo its outstanding fetch.
	ProbeStaleFetchAnswerIgnored
	// ProbeLeaderBelowEpochStart: a new leader refused a consumer fetch
	// because its high watermark has not reached its epoch start yet.
	ProbeLeaderBelowEpochStart
	// ProbeAppendRolledBack: a replica rolled refused appends out of its log.
	ProbeAppendRolledBack
	// ProbeAckAfterAppendShrunk: a produce was answered
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
	ProbeAckAfterAppendShrunk
	// ProbeParkedFetchExpired: a leader answered a parked replica fetch at
	// its deadline with nothing new.
	ProbeParkedFetchExpired
	// ProbeReplicaDropped: a broker dropped a replica of a deleted topic and
	// deleted its log.
	ProbeReplicaDropped
	// ProbeCompletionForGoneComponent: a log completion arrived for a
	// component the broker no longer hosts, and was dropped.
	ProbeCompletionForGoneComponent
	// ProbeSessionExpired: the controller fenced a broker whose session
	// timed out.
	ProbeSessionExpired
	// ProbeNewIncarnationFenced: registering a broker's new incarnation
	// fenced its previous one.
	ProbeNewIncarnationFenced
	// ProbePartitionOffline: an election found no live ISR member and left
	// the partition without a leader.
	ProbePartitionOffline
	// ProbeAlterISRRejected: the controller refused an ISR change from a
	// stale leader or partition epoch.
	ProbeAlterISRRejected
	// ProbeProposalsLost: a controller that lost leadership answered its
	// pending proposals LEADERSHIP_LOST.
	ProbeProposalsLost
	// ProbeStaleIncarnationFetchRefused: a broker refused a replica fetch
	// from an incarnation older than the one registered for its sender (a
	// zombie process).
	ProbeStaleIncarnationFetchRefused
	// ProbeELRElected: with no live ISR member, the controller elected an
	// eligible leader replica (sm.PartitionState.ELR).
	ProbeELRElected
	// ProbeHWHeldBelowMinISR: a leader held its high watermark because the
	// ISR is smaller than min_in_sync_replicas.
	ProbeHWHeldBelowMinISR
	// ProbeLeaseExpired: a broker whose leader lease expired refused a
	// produce or fetch, or turned an OK answer into an error.
	ProbeLeaseExpired
	// ProbeDamagedReplicaRepaired: a replica recovered from a damaged log
	// cut the damage to rebuild from another leader (Partition.Repair).
	ProbeDamagedReplicaRepaired
	// ProbeSnapshotSent: a controller leader sent a raft snapshot (MsgSnap)
	// to a follower that lags behind its compacted log.
	ProbeSnapshotSent
	// ProbeSnapshotApplied: a controller replaced its metadata with a raft
	// snapshot received from the leader.
	ProbeSnapshotApplied
	// ProbeReadFromCache: a fetch was served from the cached suffix.
	ProbeReadFromCache
	// ProbeReadFromDisk: a fetch for data outside the cache was served by a
	// log read.
	ProbeReadFromDisk
	// ProbeSegmentRolled: a replica sealed its active segment and started a
	// new one.
	ProbeSegmentRolled
	// ProbeRetentionDeleted: a replica deleted sealed segments by retention
	// (its own, or following its leader's log start).
	ProbeRetentionDeleted
	// ProbeFollowerReset: a follower whose log ended below its leader's log
	// start emptied its log and started it there.
	ProbeFollowerReset
	// ProbeCorruptionFound: a log read found bytes at rest that fail their
	// checksum; nothing of them was served.
	ProbeCorruptionFound
	// ProbeStaleTopicLogDropped: a broker found a log of an earlier
	// incarnation of a topic (deleted and created again meanwhile) and
	// deleted it.
	ProbeStaleTopicLogDropped
	// Tiered storage, the uploader side (sm/tier, sm/partition):
	// ProbeUploadOK: an uploaded segment was recorded by the controller.
	ProbeUploadOK
	// ProbeUploadUnknown: a segment put ended with an unknown outcome; the
	// uploader put it again under a new name (the first may be an orphan).
	ProbeUploadUnknown
	// ProbeTailOnlyRebuild: a leader sent a follower behind the uploaded
	// end to start there, so it fetches only the tail.
	ProbeTailOnlyRebuild
	// ProbeRemoteRetentionDropped: the controller dropped remote segments
	// a leader's retention asked it to.
	ProbeRemoteRetentionDropped
	// ProbeUploadedDeletedLocally: a replica deleted uploaded segments from
	// its disk (the local window).
	ProbeUploadedDeletedLocally
	// ProbeColdRead: a consumer fetch below the local log start was
	// answered with records read from the object store (it waited for at
	// least one get, its own or one already in flight).
	ProbeColdRead
	// ProbeColdCacheHit: a consumer fetch below the local log start was
	// answered from the cold cache alone, without any get.
	ProbeColdCacheHit
	// ProbeZombieUploadRejected: the controller refused to record an
	// uploaded segment from a leader epoch that is no longer current (a
	// zombie leader's upload; its object is an orphan for the collector).
	ProbeZombieUploadRejected
	// ProbeOrphanCollected: the controller's garbage collector deleted a
	// segment object that no record refers to and none ever can.
	ProbeOrphanCollected
	// Security (issue 11):
	// ProbeForbiddenSender: a node dropped a message its sender's role may
	// not send at all (sm.MaySend), without acting on it.
	ProbeForbiddenSender
	// ProbeProduceDenied, ProbeFetchDenied: a broker refused a produce or a
	// fetch with TOPIC_AUTHORIZATION_FAILED (the ACLs).
	ProbeProduceDenied
	ProbeFetchDenied
	// ProbeACLRulesApplied: a broker compiled a new ACL rule set from
	// metadata (a rule change propagated).
	ProbeACLRulesApplied
	// ProbeTimeLookup: a partition leader answered a ListOffsets by
	// timestamp from its local log.
	ProbeTimeLookup
	// ProbeRevokedCertRefused: a broker or controller refused a client
	// request whose certificate serial is in its applied revocation set
	// (CodeCertificateRevoked): one that got past the transport, which
	// enforces the set only once the node reported it.
	ProbeRevokedCertRefused
	// ProbeCoordinatorLoaded: a broker leading an offsets partition loaded
	// its group coordinator from the partition's committed records.
	ProbeCoordinatorLoaded
	// ProbeCoordinatorReloaded: a coordinator whose append ended unknown
	// was replaced by one loaded from the partition again.
	ProbeCoordinatorReloaded
	// ProbeGroupAppendFailed: an append of group state was refused or
	// lost (its requests got an error, or the coordinator fenced itself).
	ProbeGroupAppendFailed
	// ProbeGroupSnapshotWritten: a coordinator's snapshot of its state
	// committed, making the records below it obsolete.
	ProbeGroupSnapshotWritten
	// ProbeOffsetsTopicCreateRequested: a broker asked the controller to
	// create the offsets topic (the first FindCoordinator).
	ProbeOffsetsTopicCreateRequested
	// ProbeGroupRebalanced: a coordinator completed a join phase into a
	// generation after the first (a rebalance of a group that had one).
	ProbeGroupRebalanced
	// ProbeStaleGenerationCommit: a commit from an older generation was
	// refused ILLEGAL_GENERATION.
	ProbeStaleGenerationCommit
	// ProbeFormat2Stored: a leader stored a produced batch in format 2
	// (headers, a records block); ProbeCompressedStored: one compressed,
	// as the producer sent it.
	ProbeFormat2Stored
	ProbeCompressedStored
	// ProbeDuplicateSequence: a leader answered an idempotent produce with
	// the batch it already held (a retry after a lost reply);
	// ProbeOutOfOrderSequence: it refused one whose sequence skipped ahead;
	// ProbeUnknownProducerID: it refused a sequence other than 0 from a
	// producer it held nothing of; ProbeProducerStateRecovered: a replica
	// started with producer state read from its segment indexes.
	ProbeDuplicateSequence
	ProbeOutOfOrderSequence
	ProbeUnknownProducerID
	ProbeProducerStateRecovered
	// ProbeProducerPinHeld: a tiered topic's local window kept a segment
	// holding an idempotent producer's remembered batches.
	ProbeProducerPinHeld

	probeCount
)

var probeNames = [probeCount]string{
	probeNone:                         "none",
	ProbeISRShrinkLagTime:             "isr-shrink-lag-time",
	ProbeISRShrinkMaxLag:              "isr-shrink-max-lag",
	ProbeISRExpand:                    "isr-expand",
	ProbeFollowerTruncated:            "follower-truncated",
	ProbeStaleFetchAnswerIgnored:      "stale-fetch-answer-ignored",
	ProbeLeaderBelowEpochStart:        "leader-below-epoch-start",
	ProbeAppendRolledBack:             "append-rolled-back",
	ProbeAckAfterAppendShrunk:         "ack-after-append-shrunk",
	ProbeParkedFetchExpired:           "parked-fetch-expired",
	ProbeReplicaDropped:               "replica-dropped",
	ProbeCompletionForGoneComponent:   "completion-for-gone-component",
	ProbeSessionExpired:               "session-expired",
	ProbeNewIncarnationFenced:         "new-incarnation-fenced",
	ProbePartitionOffline:             "partition-offline",
	ProbeAlterISRRejected:             "alter-isr-rejected",
	ProbeStaleIncarnationFetchRefused: "stale-incarnation-fetch-refused",
	ProbeELRElected:                   "elr-elected",
	ProbeHWHeldBelowMinISR:            "hw-held-below-min-isr",
	ProbeLeaseExpired:                 "leader-lease-expired",
	ProbeDamagedReplicaRepaired:       "damaged-replica-repaired",
	ProbeProposalsLost:                "proposals-lost",
	ProbeSnapshotSent:                 "snapshot-sent",
	ProbeSnapshotApplied:              "snapshot-applied",
	ProbeReadFromCache:                "read-from-cache",
	ProbeReadFromDisk:                 "read-from-disk",
	ProbeSegmentRolled:                "segment-rolled",
	ProbeRetentionDeleted:             "retention-deleted",
	ProbeFollowerReset:                "follower-reset",
	ProbeCorruptionFound:              "corruption-found",
	ProbeStaleTopicLogDropped:         "stale-topic-log-dropped",
	ProbeUploadOK:                     "upload-ok",
	ProbeUploadUnknown:                "upload-unknown",
	ProbeTailOnlyRebuild:              "tail-only-rebuild",
	ProbeRemoteRetentionDropped:       "remote-retention-dropped",
	ProbeUploadedDeletedLocally:       "uploaded-deleted-locally",
	ProbeColdRead:                     "cold-read",
	ProbeColdCacheHit:                 "cold-cache-hit",
	ProbeZombieUploadRejected:         "zombie-upload-rejected",
	ProbeOrphanCollected:              "orphan-collected",
	ProbeForbiddenSender:              "forbidden-sender",
	ProbeProduceDenied:                "produce-denied",
	ProbeFetchDenied:                  "fetch-denied",
	ProbeACLRulesApplied:              "acl-rules-applied",
	ProbeTimeLookup:                   "time-lookup",
	ProbeRevokedCertRefused:           "revoked-cert-refused",
	ProbeCoordinatorLoaded:            "coordinator-loaded",
	ProbeCoordinatorReloaded:          "coordinator-reloaded",
	ProbeGroupAppendFailed:            "group-append-failed",
	ProbeGroupSnapshotWritten:         "group-snapshot-written",
	ProbeOffsetsTopicCreateRequested:  "offsets-topic-create-requested",
	ProbeGroupRebalanced:              "group-rebalanced",
	ProbeStaleGenerationCommit:        "stale-generation-commit",
	ProbeFormat2Stored:                "format2-stored",
	ProbeCompressedStored:             "compressed-stored",
	ProbeDuplicateSequence:            "duplicate-sequence",
	ProbeOutOfOrderSequence:           "out-of-order-sequence",
	ProbeUnknownProducerID:            "unknown-producer-id",
	ProbeProducerStateRecovered:       "producer-state-recovered",
	ProbeProducerPinHeld:              "producer-pin-held",
}

func (p Probe) String() string {
	if p < probeCount && probeNames[p] != "" {
		return probeNames[p]
	}
	return "probe(" + strconv.Itoa(int(p)) + ")"
}

// AllProbes lists every probe, in declaration order.
func AllProbes() []Probe {
	ps := make([]Probe, 0, probeCount-1)
	for p := probeNone + 1; p < probeCount; p++ {
		ps = append(ps, p)
	}
	return ps
}
