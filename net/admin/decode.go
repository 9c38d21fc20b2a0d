package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/weirmq/weir/sm"
)

// createBody is the body of POST /api/v1/topics: the reference's fields
// plus Weir's per-topic config. Pointers tell an absent or null field from
// a zero one.
//
// retention_ms, segment_bytes, compression_type, retention_bytes and
// segment_ms may come at the top level (as the reference creates them) or
// under config (as it describes them). The controller validates and
// stores them, describe returns them, and brokers apply them from the
// metadata delta (see sm.TopicConfig).
type createBody struct {
	Name              *string `json:"name"`
	Partitions        *int32  `json:"partitions"`
	ReplicationFactor *int32  `json:"replication_factor"`
	RetentionMs       *int64  `json:"retention_ms"`
	SegmentBytes      *int64  `json:"segment_bytes"`
	CompressionType   *string `json:"compression_type"`
	RetentionBytes    *int64  `json:"retention_bytes"`
	SegmentMs         *int64  `json:"segment_ms"`
	// Tiered storage's local window (Weir's; Kafka's local.retention.*).
	LocalRetentionMs    *int64 `json:"local_retention_ms"`
	LocalRetentionBytes *int64 `json:"local_retention_bytes"`
	// MessageTimestampType is Kafka's message.timestamp.type: create_time
	// or log_append_time (the default).
	MessageTimestampType *string     `json:"message_timestamp_type"`
	Config               *configBody `json:"config"`
}

// configBody is createBody's "config" object; describe's "config" has the
// same keys, so a described topic's config can be sent back as is.
type configBody struct {
	// MinInSyncReplicas absent means the cluster's min_in_sync_replicas
	// (capped at the replication factor).
	MinInSyncReplicas     *int32  `json:"min_in_sync_replicas"`
	UncleanLeaderElection *bool   `json:"unclean_leader_election"`
	RetentionMs           *int64  `json:"retention_ms"`
	SegmentBytes          *int64  `json:"segment_bytes"`
	CompressionType       *string `json:"compression_type"`
	RetentionBytes        *int64  `json:"retention_bytes"`
	SegmentMs             *int64  `json:"segment_ms"`
	LocalRetentionMs      *int64  `json:"local_retention_ms"`
	LocalRetentionBytes   *int64  `json:"local_retention_bytes"`
	MessageTimestampType  *string `json:"message_timestamp_type"`
}

// requestError is an answer to a request rejected before it reached the
// controller: nothing was done.
type requestError struct {
	status int
	msg    string
}

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// readJSONBody reads a JSON request body. It must be declared as JSON:
// browsers cannot send that cross-origin without a CORS preflight, which
// the process grants only to admin.allowed_origins, so a web page cannot
// create topics through a controller on an operator's loopback with a
// "simple" (text/plain or form) POST. This is the second wall: the first,
// ratelimit.CORS, refuses any state-changing browser request from an
// unlisted origin before it gets here, DELETE included.
func readJSONBody(r *http.Request) ([]byte, *requestError) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return nil, &requestError{status: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("Content-Type must be application/json (got %s)", quoteBounded(ct))}
	}
	body, err := io.ReadAll(r.Body) // bounded by limitBodies' MaxBytesReader
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &requestError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("request body above the %d-byte limit", tooLarge.Limit)}
	case err != nil:
		return nil, badRequest("reading request body: %v", err)
	}
	return body, nil
}

// decodeCreate parses and checks a create body. It checks shape only
// (fields, types, presence, what holds whatever the cluster state); the
// controller checks the rest and its message is passed through.
func decodeCreate(body []byte) (sm.CreateTopicRequest, *requestError) {
	if rerr := checkKeys(body, reflect.TypeFor[createBody](), ""); rerr != nil {
		return sm.CreateTopicRequest{}, rerr
	}
	var cb createBody
	if err := json.Unmarshal(body, &cb); err != nil {
		return sm.CreateTopicRequest{}, jsonError(body, err)
	}
	return cb.request()
}

func (cb *createBody) request() (sm.CreateTopicRequest, *requestError) {
	switch {
	case cb.Name == nil:
		return sm.CreateTopicRequest{}, badRequest("name: required (a string)")
	case cb.Partitions == nil:
		return sm.CreateTopicRequest{}, badRequest("partitions: required (an integer >= 1)")
	case cb.ReplicationFactor == nil:
		return sm.CreateTopicRequest{}, badRequest("replication_factor: required (an integer >= 1)")
	}
	req := sm.CreateTopicRequest{Name: *cb.Name, Partitions: *cb.Partitions, ReplicationFactor: *cb.ReplicationFactor}
	if rerr := settings(&req.Config, "", cb.RetentionMs, cb.SegmentBytes, cb.CompressionType); rerr != nil {
		return sm.CreateTopicRequest{}, rerr
	}
	if rerr := moreSettings(&req.Config, "", cb.RetentionBytes, cb.SegmentMs, cb.LocalRetentionMs, cb.LocalRetentionBytes); rerr != nil {
		return sm.CreateTopicRequest{}, rerr
	}
	if rerr := timestampType(&req.Config, "", cb.MessageTimestampType); rerr != nil {
		return sm.CreateTopicRequest{}, rerr
	}
	if c := cb.Config; c != nil {
		if rerr := timestampType(&req.Config, "config.", c.MessageTimestampType); rerr != nil {
			return sm.CreateTopicRequest{}, rerr
		}
		if rerr := settings(&req.Config, "config.", c.RetentionMs, c.SegmentBytes, c.CompressionType); rerr != nil {
			return sm.CreateTopicRequest{}, rerr
		}
		if rerr := moreSettings(&req.Config, "config.", c.RetentionBytes, c.SegmentMs, c.LocalRetentionMs, c.LocalRetentionBytes); rerr != nil {
			return sm.CreateTopicRequest{}, rerr
		}
		if m := c.MinInSyncReplicas; m != nil {
			rf := req.ReplicationFactor
			switch {
			case *m < 1:
				return sm.CreateTopicRequest{}, badRequest("config.min_in_sync_replicas: must be >= 1 (got %d); omit it for the cluster default", *m)
			case rf >= 1 && *m > rf:
				return sm.CreateTopicRequest{}, badRequest("config.min_in_sync_replicas: %d above replication_factor %d", *m, rf)
			}
			req.Config.MinInSyncReplicas = *m
		}
		if u := c.UncleanLeaderElection; u != nil {
			req.Config.UncleanLeaderElection = *u
		}
	}
	return req, nil
}

// timestampType sets message_timestamp_type, which must agree when given
// at the top level and under config.
func timestampType(cfg *sm.TopicConfig, prefix string, v *string) *requestError {
	if v == nil {
		return nil
	}
	if cfg.TimestampType != "" && cfg.TimestampType != *v {
		return badRequest("%smessage_timestamp_type: %q disagrees with message_timestamp_type %q", prefix, *v, cfg.TimestampType)
	}
	cfg.TimestampType = *v
	return nil
}

// settings copies the reference's per-topic settings into cfg; a setting
// given both at the top level and under config must agree.
func settings(cfg *sm.TopicConfig, prefix string, retention, segment *int64, compression *string) *requestError {
	if retention != nil {
		if cfg.RetentionMs != 0 && cfg.RetentionMs != *retention {
			return badRequest("%sretention_ms: %d disagrees with retention_ms %d", prefix, *retention, cfg.RetentionMs)
		}
		cfg.RetentionMs = *retention
	}
	if segment != nil {
		if cfg.SegmentBytes != 0 && cfg.SegmentBytes != *segment {
			return badRequest("%ssegment_bytes: %d disagrees with segment_bytes %d", prefix, *segment, cfg.SegmentBytes)
		}
		cfg.SegmentBytes = *segment
	}
	if compression != nil {
		if cfg.CompressionType != "" && cfg.CompressionType != *compression {
			return badRequest("%scompression_type: %q disagrees with compression_type %q", prefix, *compression, cfg.CompressionType)
		}
		cfg.CompressionType = *compression
	}
	return nil
}

// moreSettings is settings for retention_bytes, segment_ms and the local
// window.
func moreSettings(cfg *sm.TopicConfig, prefix string, retentionBytes, segmentMs, localMs, localBytes *int64) *requestError {
	for _, s := range []struct {
		key string
		v   *int64
		dst *int64
	}{{sm.ConfigRetentionBytes, retentionBytes, &cfg.RetentionBytes}, {sm.ConfigSegmentMs, segmentMs, &cfg.SegmentMs},
		{sm.ConfigLocalRetentionMs, localMs, &cfg.LocalRetentionMs}, {sm.ConfigLocalRetentionBytes, localBytes, &cfg.LocalRetentionBytes}} {
		if s.v == nil {
			continue
		}
		if *s.dst != 0 && *s.dst != *s.v {
			return badRequest("%s%s: %d disagrees with %s %d", prefix, s.key, *s.v, s.key, *s.dst)
		}
		*s.dst = *s.v
	}
	return nil
}

// decodeAlter parses a PATCH body: a JSON object whose keys are config
// keys (sm.TopicConfigKeys) and whose values are integers, or null to set
// one back to unset. It checks shape only; the controller checks the
// values and its message, naming the key, is passed through.
func decodeAlter(name string, body []byte) (sm.AlterTopicConfigRequest, *requestError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return sm.AlterTopicConfigRequest{}, badRequest("request body: want a JSON object of config keys, got %s", te.Value)
		}
		return sm.AlterTopicConfigRequest{}, jsonError(body, err)
	}
	keys := sm.TopicConfigKeys()
	if len(m) == 0 {
		return sm.AlterTopicConfigRequest{}, badRequest("request body: no config keys to change (keys: %s)", strings.Join(keys, ", "))
	}
	req := sm.AlterTopicConfigRequest{Name: name}
	for _, key := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(keys, key) {
			return sm.AlterTopicConfigRequest{}, badRequest("%s: not an alterable config key (keys: %s)", quoteBounded(key), strings.Join(keys, ", "))
		}
		var v *int64
		if err := json.Unmarshal(m[key], &v); err != nil {
			return sm.AlterTopicConfigRequest{}, badRequest("%s: want an integer in -9223372036854775808..9223372036854775807, or null for unset (got %s)", key, quoteBounded(string(m[key])))
		}
		e := sm.TopicConfigEntry{Key: key}
		if v != nil {
			e.Value = *v
		}
		req.Set = append(req.Set, e)
	}
	return req, nil
}

// checkKeys rejects a body that is not a JSON object or has a key t does
// not declare (exactly, not case-folded as encoding/json matches), naming
// it with its path: "config.foo: unknown field".
func checkKeys(raw []byte, t reflect.Type, path string) *requestError {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("%s: want a JSON object, got %s", objectName(path), te.Value)
		}
		return jsonError(raw, err)
	}
	if m == nil {
		if path == "" {
			return badRequest("request body: want a JSON object, got null")
		}
		return nil // a null nested object means "all defaults"
	}
	fields := map[string]reflect.Type{}
	var known []string
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[tag] = f.Type
		known = append(known, tag)
	}
	for _, key := range slices.Sorted(maps.Keys(m)) {
		ft, ok := fields[key]
		if !ok {
			return badRequest("%s: unknown field (known: %s)", quoteBounded(path+key), strings.Join(known, ", "))
		}
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			if rerr := checkKeys(m[key], ft.Elem(), path+key+"."); rerr != nil {
				return rerr
			}
		}
	}
	return nil
}

func objectName(path string) string {
	if path == "" {
		return "request body"
	}
	return strings.TrimSuffix(path, ".")
}

// jsonError words a decoding error for the client: where the JSON broke,
// or which field has the wrong type.
func jsonError(body []byte, err error) *requestError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return badRequest("request body is empty; want a JSON object")
	case errors.As(err, &se):
		line, col := position(body, se.Offset)
		return badRequest("malformed JSON at line %d, column %d (byte offset %d): %v", line, col, se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "request body"
		}
		return badRequest("%s: want %s, got %s (at byte offset %d)", field, typeName(te.Type), te.Value, te.Offset)
	}
	return badRequest("request body: %v", err)
}

// position is the 1-based line and column of the byte before offset, where
// encoding/json stopped.
func position(body []byte, offset int64) (line, col int) {
	end := int(min(max(offset-1, 0), int64(len(body))))
	before := body[:end]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = 1 + end - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int32:
		return "an integer in -2147483648..2147483647"
	case reflect.Int64:
		return "an integer in -9223372036854775808..9223372036854775807"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	}
	return t.String()
}
