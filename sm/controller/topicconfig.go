package controller

import (
	"slices"

	"github.com/weirmq/weir/sm"
)

// Bounds of the alterable topic settings, named in the errors that refuse
// a value outside them.
const (
	// segmentBytesMin keeps segments large enough that a partition's file
	// and index count stays sane (1 MiB); segmentBytesMax keeps one segment's
	// byte positions well inside the index's range (16 GiB).
	segmentBytesMin = 1 << 20
	segmentBytesMax = 1 << 34
	// segmentMsMin stops a roll per batch (1 s); segmentMsMax is a year.
	segmentMsMin = 1000
	segmentMsMax = 365 * 24 * 3600 * 1000
)

// alterTopicConfig changes some settings of one topic, checked against the
// topic the entry meets when it applies.
type alterTopicConfig struct {
	Name string                `json:"name"`
	Set  []sm.TopicConfigEntry `json:"set"`
}

// validateTopicConfig checks the settings that hold whatever the state:
// the same rules for a create and for an alter, each error naming the key
// as the admin API and the CLI spell it.
func validateTopicConfig(c *sm.TopicConfig) (result, bool) {
	if r := c.RetentionMs; r < -1 {
		return fail(sm.CodeInvalidRequest, "%s must be -1 (forever), 0 (unset) or positive (got %d)", sm.ConfigRetentionMs, r), false
	}
	if r := c.RetentionBytes; r < -1 {
		return fail(sm.CodeInvalidRequest, "%s must be -1 (unlimited), 0 (unset) or positive (got %d)", sm.ConfigRetentionBytes, r), false
	}
	if r := c.LocalRetentionMs; r < -1 {
		return fail(sm.CodeInvalidRequest, "%s must be -1 (until retention_ms), 0 (unset) or positive (got %d)", sm.ConfigLocalRetentionMs, r), false
	}
	if r := c.LocalRetentionBytes; r < -1 {
		return fail(sm.CodeInvalidRequest, "%s must be -1 (until retention_bytes), 0 (unset) or positive (got %d)", sm.ConfigLocalRetentionBytes, r), false
	}
	if s := c.SegmentBytes; s != 0 && (s < segmentBytesMin || s > segmentBytesMax) {
		return fail(sm.CodeInvalidRequest, "%s must be 0 (unset) or in %d..%d (1 MiB..16 GiB) (got %d)", sm.ConfigSegmentBytes, segmentBytesMin, int64(segmentBytesMax), s), false
	}
	if s := c.SegmentMs; s != 0 && (s < segmentMsMin || s > segmentMsMax) {
		return fail(sm.CodeInvalidRequest, "%s must be 0 (unset) or in %d..%d (1 s..365 d) (got %d)", sm.ConfigSegmentMs, segmentMsMin, int64(segmentMsMax), s), false
	}
	switch c.TimestampType {
	case "", sm.TimestampCreateTime, sm.TimestampLogAppendTime:
	default:
		return fail(sm.CodeInvalidRequest, "message_timestamp_type must be create_time or log_append_time (got %q)", c.TimestampType), false
	}
	switch c.CompressionType {
	case "", "none", "gzip", "snappy", "lz4", "zstd", "producer":
	default:
		return fail(sm.CodeInvalidRequest, "compression_type must be none, gzip, snappy, lz4, zstd or producer (got %q)", c.CompressionType), false
	}
	return result{}, true
}

// alteredConfig applies set to cfg: every key must be an alterable setting
// named once, and the result must validate.
func alteredConfig(cfg sm.TopicConfig, set []sm.TopicConfigEntry) (sm.TopicConfig, result, bool) {
	if len(set) == 0 {
		return cfg, fail(sm.CodeInvalidRequest, "no settings to change (keys: %v)", sm.TopicConfigKeys()), false
	}
	for i, e := range set {
		v := cfg.Setting(e.Key)
		switch {
		case v == nil:
			return cfg, fail(sm.CodeInvalidRequest, "%q is not an alterable setting (keys: %v)", e.Key, sm.TopicConfigKeys()), false
		case slices.ContainsFunc(set[:i], func(o sm.TopicConfigEntry) bool { return o.Key == e.Key }):
			return cfg, fail(sm.CodeInvalidRequest, "%s given twice", e.Key), false
		}
		*v = e.Value
	}
	if r, ok := validateTopicConfig(&cfg); !ok {
		return cfg, r, false
	}
	return cfg, result{}, true
}

// onAlterTopicConfig checks the request's shape early, so a bad one costs
// no raft round, and proposes it; whether the topic exists is decided when
// the entry applies.
func (n *Node) onAlterTopicConfig(from sm.NodeID, req sm.AlterTopicConfigRequest) {
	reply := func(code sm.Code, msg string) {
		n.send(from, sm.AlterTopicConfigResponse{ReqID: req.ReqID, Code: code, Message: msg, LeaderHint: n.Leader()})
	}
	if !n.IsLeader() {
		reply(sm.CodeNotLeader, "not the controller leader")
		return
	}
	if _, r, ok := alteredConfig(sm.TopicConfig{}, req.Set); !ok {
		reply(r.code, r.message)
		return
	}
	c := &alterTopicConfig{Name: req.Name, Set: slices.Clone(req.Set)}
	p := &proposal{client: from, reqID: req.ReqID}
	if _, err := n.propose(&command{AlterConfig: c}, p); err != nil {
		reply(sm.CodeLeaderNotAvailable, err.Error())
	}
}

// applyAlterConfig sets the topic's new config. A change bumps the metadata
// version: the topic, and its partitions with it (every partition's
// version stays at or after its topic's), travel in the next delta, and
// brokers apply the settings from there. A command that changes nothing
// succeeds without a new version.
func (md *metadata) applyAlterConfig(c *alterTopicConfig) result {
	t := md.topics[c.Name]
	if t == nil {
		return fail(sm.CodeUnknownTopic, "topic %q does not exist", c.Name)
	}
	cfg, r, ok := alteredConfig(t.info.Config, c.Set)
	if !ok {
		return r
	}
	if cfg == t.info.Config {
		return result{}
	}
	t.info.Config = cfg
	t.version = md.touch()
	for _, p := range t.partitions {
		p.version = t.version
	}
	return result{}
}
