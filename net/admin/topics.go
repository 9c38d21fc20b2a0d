package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/weirmq/weir/sm"
	"github.com/weirmq/weir/sm/acl"
)

// topicSummary is one element of GET /api/v1/topics' data (the
// reference's TopicSummary).
type topicSummary struct {
	Name string `json:"name"`
	// TopicID is the topic's ID (sm.TopicID's base64url form): a topic
	// deleted and created again under its name has a new one.
	TopicID           string `json:"topic_id"`
	Partitions        int32  `json:"partitions"`
	ReplicationFactor int32  `json:"replication_factor"`
	// CreatedAt is the topic's creation time (RFC 3339), null when the
	// creating request carried none.
	CreatedAt *string `json:"created_at"`
}

// topicDetail is GET /api/v1/topics/{name}'s data, in the reference's
// shape.
type topicDetail struct {
	Name                 string                `json:"name"`
	TopicID              string                `json:"topic_id"`
	Partitions           int32                 `json:"partitions"`
	ReplicationFactor    int32                 `json:"replication_factor"`
	Config               topicConfig           `json:"config"`
	CreatedAt            *string               `json:"created_at"` // null when the creator sent no time
	PartitionAssignments []partitionAssignment `json:"partition_assignments"`
}

// topicConfig is the reference's topic config (null when unset) plus
// Weir's own; brokers apply it from the metadata delta (see
// sm.TopicConfig).
type topicConfig struct {
	RetentionMs           *int64  `json:"retention_ms"`
	SegmentBytes          *int64  `json:"segment_bytes"`
	CompressionType       *string `json:"compression_type"`
	MinInSyncReplicas     int32   `json:"min_in_sync_replicas"`
	UncleanLeaderElection bool    `json:"unclean_leader_election"`
	RetentionBytes        *int64  `json:"retention_bytes"`
	SegmentMs             *int64  `json:"segment_ms"`
	LocalRetentionMs      *int64  `json:"local_retention_ms"`
	LocalRetentionBytes   *int64  `json:"local_retention_bytes"`
	MessageTimestampType  string  `json:"message_timestamp_type"`
}

// partitionAssignment is one partition's replicas and leadership; brokers
// are named "broker-<id>" and an offline partition's leader is null.
type partitionAssignment struct {
	Partition      int32    `json:"partition"`
	Leader         *string  `json:"leader"`
	Replicas       []string `json:"replicas"`
	InSyncReplicas []string `json:"in_sync_replicas"`
	// EligibleLeaderReplicas (the controller's ELR): replicas out of the ISR
	// that hold every committed record and may be elected when no in-sync
	// replica is alive; present only when not empty.
	EligibleLeaderReplicas []string `json:"eligible_leader_replicas,omitempty"`
	LeaderEpoch            sm.Epoch `json:"leader_epoch"`
	// Uploaded is the partition's uploaded range (tiered storage):
	// segments in the object store holding [start_offset, end_offset).
	Uploaded uploadedRange `json:"uploaded"`
}

// uploadedRange is a partition's sm.RemoteLog.
type uploadedRange struct {
	Start    sm.Offset `json:"start_offset"`
	End      sm.Offset `json:"end_offset"`
	Bytes    int64     `json:"bytes"`
	Segments int32     `json:"segments"`
}

// onListTopics answers GET /api/v1/topics from the applied metadata,
// sorted by name.
func (s *Server) onListTopics(w http.ResponseWriter, r *http.Request) {
	md, leader, ok := s.metadata(w, r)
	if !ok {
		return
	}
	topics, err := s.describable(r, md.Topics)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot read the ACL rules to filter the topics: %v; retry", err), leader)
		return
	}
	succeed(w, http.StatusOK, topicSummaries(topics), leader)
}

// topicSummaries lists topics by name, without reordering the Backend's
// slice; never nil, so an empty list encodes as [].
func topicSummaries(all []sm.TopicInfo) []topicSummary {
	topics := make([]topicSummary, 0, len(all))
	for _, t := range all {
		topics = append(topics, topicSummary{Name: t.Name, TopicID: t.ID.String(), Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, CreatedAt: createdAt(t.CreatedAtMs)})
	}
	slices.SortFunc(topics, func(a, b topicSummary) int { return strings.Compare(a.Name, b.Name) })
	return topics
}

// onDescribeTopic answers GET /api/v1/topics/{name} from the applied
// metadata.
func (s *Server) onDescribeTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.mayTopic(w, r, name, acl.OpDescribe) {
		return
	}
	md, leader, ok := s.metadata(w, r)
	if !ok {
		return
	}
	i := slices.IndexFunc(md.Topics, func(t sm.TopicInfo) bool { return t.Name == name })
	if i < 0 {
		fail(w, http.StatusNotFound, fmt.Sprintf("topic %s does not exist", quoteBounded(name)), leader)
		return
	}
	succeed(w, http.StatusOK, describe(md.Topics[i], md.Partitions), leader)
}

func nonZero(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// createdAt formats a creation time as RFC 3339 (UTC), nil when unknown.
func createdAt(ms int64) *string {
	if ms <= 0 {
		return nil
	}
	s := time.UnixMilli(ms).UTC().Format(time.RFC3339)
	return &s
}

func describe(t sm.TopicInfo, all []sm.PartitionState) topicDetail {
	d := topicDetail{
		Name:              t.Name,
		TopicID:           t.ID.String(),
		Partitions:        t.Partitions,
		ReplicationFactor: t.ReplicationFactor,
		Config: topicConfig{
			RetentionMs:           nonZero(t.Config.RetentionMs),
			SegmentBytes:          nonZero(t.Config.SegmentBytes),
			CompressionType:       nonEmpty(t.Config.CompressionType),
			MinInSyncReplicas:     t.Config.MinInSyncReplicas,
			UncleanLeaderElection: t.Config.UncleanLeaderElection,
			RetentionBytes:        nonZero(t.Config.RetentionBytes),
			SegmentMs:             nonZero(t.Config.SegmentMs),
			LocalRetentionMs:      nonZero(t.Config.LocalRetentionMs),
			LocalRetentionBytes:   nonZero(t.Config.LocalRetentionBytes),
			MessageTimestampType:  cmp.Or(t.Config.TimestampType, sm.TimestampLogAppendTime),
		},
		CreatedAt:            createdAt(t.CreatedAtMs),
		PartitionAssignments: []partitionAssignment{},
	}
	for _, p := range all {
		if p.TP.Topic != t.Name {
			continue
		}
		a := partitionAssignment{
			Partition:      p.TP.Partition,
			Replicas:       brokerNames(p.Replicas),
			InSyncReplicas: brokerNames(p.ISR),
			LeaderEpoch:    p.LeaderEpoch,
			Uploaded:       uploadedRange{Start: p.Remote.Start, End: p.Remote.End, Bytes: p.Remote.Bytes, Segments: p.Remote.Segments},
		}
		if len(p.ELR) > 0 {
			a.EligibleLeaderReplicas = brokerNames(p.ELR)
		}
		if p.Leader != sm.NoNode {
			a.Leader = new(brokerName(p.Leader))
		}
		d.PartitionAssignments = append(d.PartitionAssignments, a)
	}
	slices.SortFunc(d.PartitionAssignments, func(a, b partitionAssignment) int { return cmp.Compare(a.Partition, b.Partition) })
	return d
}

// brokerNames is never nil, so an empty list encodes as [] and not null.
func brokerNames(ids []sm.NodeID) []string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		names = append(names, brokerName(id))
	}
	return names
}

// metadata fetches the applied metadata for a read, answering the request
// itself when it cannot.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) (sm.MetadataDelta, sm.NodeID, bool) {
	_, leader := s.b.Leader()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	md, err := s.b.Metadata(ctx)
	switch {
	case err != nil:
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("metadata unavailable: %v; retry", err), leader)
		return sm.MetadataDelta{}, sm.NoNode, false
	case !md.Full:
		s.logf("admin: backend returned partial metadata (versions %d..%d) for %s %s", md.FromVersion, md.ToVersion, r.Method, r.URL.Path)
		fail(w, http.StatusInternalServerError, "internal error: partial metadata (logged by the controller)", leader)
		return sm.MetadataDelta{}, sm.NoNode, false
	}
	return md, leader, true
}

// onCreateTopic answers POST /api/v1/topics. A bad body is rejected on any
// controller; a good one runs on the leader.
func (s *Server) onCreateTopic(w http.ResponseWriter, r *http.Request) {
	body, rerr := readJSONBody(r)
	var req sm.CreateTopicRequest
	if rerr == nil {
		req, rerr = decodeCreate(body)
	}
	if rerr != nil {
		_, leader := s.b.Leader()
		fail(w, rerr.status, rerr.msg, leader)
		return
	}
	if !s.mayTopic(w, r, req.Name, acl.OpCreate) || !s.routeWrite(w, r, req.Name, body) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.b.CreateTopic(ctx, req)
	if err != nil {
		s.backendFailed(w, req.Name, err)
		return
	}
	s.answer(w, r, resp.Code, resp.Message, resp.LeaderHint, req.Name, http.StatusCreated, fmt.Sprintf("Topic '%s' created", req.Name))
}

// onDeleteTopic answers DELETE /api/v1/topics/{name} on the leader.
func (s *Server) onDeleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.mayTopic(w, r, name, acl.OpDelete) || !s.routeWrite(w, r, name, nil) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.b.DeleteTopic(ctx, sm.DeleteTopicRequest{Name: name})
	if err != nil {
		s.backendFailed(w, name, err)
		return
	}
	s.answer(w, r, resp.Code, resp.Message, resp.LeaderHint, name, http.StatusOK, fmt.Sprintf("Topic '%s' deleted", name))
}

// onAlterTopic answers PATCH /api/v1/topics/{name}: a JSON object of the
// config keys to change (sm.TopicConfigKeys) with their new values, null
// setting one back to unset; the others keep theirs. A bad body is
// rejected on any controller; a good one runs on the leader.
func (s *Server) onAlterTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, rerr := readJSONBody(r)
	var req sm.AlterTopicConfigRequest
	if rerr == nil {
		req, rerr = decodeAlter(name, body)
	}
	if rerr != nil {
		_, leader := s.b.Leader()
		fail(w, rerr.status, rerr.msg, leader)
		return
	}
	if !s.mayTopic(w, r, name, acl.OpAlter) || !s.routeWrite(w, r, name, body) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.b.AlterTopicConfig(ctx, req)
	if err != nil {
		s.backendFailed(w, name, err)
		return
	}
	s.answer(w, r, resp.Code, resp.Message, resp.LeaderHint, name, http.StatusOK, fmt.Sprintf("Topic '%s' config altered", name))
}

// answer turns the controller's reply to a write into the envelope.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, c sm.Code, msg string, hint sm.NodeID, name string, okStatus int, okData string) {
	if hint == sm.NoNode {
		_, hint = s.b.Leader()
	}
	if c == sm.CodeOK {
		succeed(w, okStatus, okData, hint)
		return
	}
	status := codeStatus(c)
	if status == http.StatusInternalServerError {
		s.logf("admin: %s %s: unexpected controller reply %s: %s", r.Method, r.URL.Path, c, msg)
	}
	fail(w, status, codeMessage(c, msg, name), hint)
}

// backendFailed answers a write that got no reply from the controller.
func (s *Server) backendFailed(w http.ResponseWriter, name string, err error) {
	_, leader := s.b.Leader()
	if errors.Is(err, ErrUnavailable) {
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("%v; nothing was done, retry", err), leader)
		return
	}
	fail(w, http.StatusGatewayTimeout, fmt.Sprintf("outcome unknown (no reply from the controller: %v); check %s before retrying", err, describePath(name)), leader)
}
