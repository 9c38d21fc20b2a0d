// Package linearizability holds the checkers that end every simulation run:
// they take the History of client operations the simulator recorded (virtual
// invoke/return times, outcomes, offsets, reads) and say which of the
// system's promises it broke. It is a leaf: stdlib and porcupine only, so the
// simulator and the scenarios can import it.
//
// # What the system promises (and what it does not)
//
//   - A partition has one committed log. Every record a fetch returns is below
//     the reply's high watermark (HW), hence committed, so any two reads agree
//     on every offset both show, whatever the ack level of the produce.
//   - A Durable OK produce (acks=all/majority/custom(N) on a topic without
//     unclean election) is committed at the offsets the leader acknowledged
//     and survives clean leader failover. A produce acknowledged with
//     acks=leader/none promises nothing across failover: its records may be
//     absent from the final log and their offsets reused by other records.
//   - A Failed produce had no effect; an Unknown one may take effect, at any
//     time after its call (even after the client gave up).
//   - Reads are NOT linearizable: a deposed leader may serve an older but
//     consistent prefix, and a fetch may return fewer records or none.
//   - Values are unique per run, so each one sits at one offset at most.
//
// # CheckLog: the claimed-order checker (primary, fast)
//
// CheckLog treats the leaders' acknowledged offsets as the claimed total order
// and checks, per partition, in O(n log n): durable records present at their
// offsets in the Final reads and never contradicted by a read (lost); reads
// agreeing per offset (read-disagree); no value at two offsets (duplicate); no
// value that was never produced, produced by a Failed op or produced to another
// partition (phantom); no value read before its produce was invoked
// (future-read); each reply a contiguous run from the requested offset (gap)
// below its own HW (above-hw); OK produces' values at their acknowledged offsets
// (offset-mismatch) and batches kept together (batch-split); no offset
// acknowledged to two durable produces (double-claim); real-time order of
// produces (if durable A returned before B was invoked, B lands above A,
// unless B is non-durable and answered by an older leader epoch than A:
// real-time-order); and the HW never going backwards between replies in
// real-time order unless the later reply comes from an older leader epoch
// (hw-backwards).
//
// It does not check: that reads are up to date (a fetch invoked after an ack
// may miss the record), that non-durable acks survive, or partitions of a
// topic that may have been deleted and recreated (one name, several logs:
// they are listed in Report.SkippedTPs; use fresh names). A durable record is
// verified only on partitions with Final reads, and a final read that starts
// above offset 0 or stops below its HW leaves the rest unverified
// (Report.DurableUnverified), not lost. Log compaction and retention are
// assumed off: a reply must start exactly at the requested offset. Unclean
// leader election may lose committed records, so reads of such topics may
// legitimately disagree and their HW go backwards: keep their fetches out of
// the history (their produces are never Durable).
//
// # LogModel and TopicModel: porcupine models (second opinion, HTML on failure)
//
// LogModel checks that one assignment of values to offsets explains every
// durable acknowledgement and every read, and that durable produces
// linearize in offset order. Reads only have to agree with it. TopicModel
// checks create/delete replies against a per-topic exists flag, with Unknown
// outcomes handled soundly (they may or may not have taken effect; every
// topic starts absent, so setup creates must be recorded). Neither model can
// report a violation the promises above allow; see their comments for what is
// left out of each history. CheckPorcupine runs both and writes porcupine's
// visualization of the illegal partitions only (fetches appear after the
// produces there, with their real times in the description). Its timeout is
// wall clock; a timeout is reported as porcupine.Unknown, which the
// simulator counts as a failed run (a history never checked proves nothing).
package linearizability
