package partition

import (
	"fmt"

	"github.com/weirmq/weir/sm"
)

// OnListOffsets answers a client's offsets query, as leader only, from the
// replica's Status: the log start (older records were deleted by
// retention), the high watermark (consumers read below it) and the log end
// (the difference from the high watermark is not committed yet). A replica
// that does not lead answers NOT_LEADER with the leader it knows; a request
// naming a newer leader epoch than this replica's UNKNOWN_LEADER_EPOCH, as
// a fetch is.
func (p *Partition) OnListOffsets(now sm.Time, from sm.NodeID, req sm.ListOffsetsRequest) {
	p.setNow(now)
	resp, ok := p.offsetsStatus(req)
	if ok && req.ByTime {
		p.seekTime(from, req, resp)
		return
	}
	p.send(from, resp)
}

// offsetsStatus is the answer to req without a time lookup's result; ok
// is false for a refusal.
func (p *Partition) offsetsStatus(req sm.ListOffsetsRequest) (sm.ListOffsetsResponse, bool) {
	st := p.Status()
	resp := sm.ListOffsetsResponse{ReqID: req.ReqID, TP: st.TP, LeaderEpoch: st.LeaderEpoch, LeaderHint: st.Leader}
	switch {
	case st.Role != RoleLeader:
		resp.Code, resp.Message = sm.CodeNotLeader, "not the partition leader"
	case req.CurrentLeaderEpoch > st.LeaderEpoch:
		resp.Code = sm.CodeUnknownLeaderEpoch
	case req.ByTime && p.damaged != "":
		resp.Code, resp.Message = sm.CodeStorageError, fmt.Sprintf("broker %d holds corrupt data for %v (%s)", uint64(p.cfg.Self), p.cfg.TP, p.damaged)
	default:
		resp.LogStart, resp.HighWatermark, resp.LogEnd = st.LogStart, st.HW, st.LEO
		resp.LocalStart, resp.LocalBytes, resp.Remote = st.LocalStart, p.log.bytes(), p.remote
		return resp, true
	}
	return resp, false
}
