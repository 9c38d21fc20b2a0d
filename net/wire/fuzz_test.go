package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/weirmq/weir/sm"
)

// Fuzz targets. Run one with e.g.
//
//	go test ./net/wire -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s
//
// Under plain go test they replay only their seed corpus.

// checkDecoded is the property every target checks: decoding never panics;
// a failure is a *DecodeError wrapping ErrMalformed; a success re-encodes to
// the same bytes (canonical encoding) or, for raft's protobuf payload, to
// bytes that decode to an equal message.
func checkDecoded(t *testing.T, frame []byte) {
	m, err := Decode(frame)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v (%T) is not a *DecodeError wrapping ErrMalformed", err, err)
		}
		return
	}
	again, err := Encode(m)
	if err != nil {
		t.Fatalf("decoded %T does not re-encode: %v", m, err)
	}
	if _, raft := m.(sm.RaftMessage); !raft {
		if !bytes.Equal(again, frame) {
			t.Fatalf("%T re-encodes differently:\nin  %x\nout %x", m, frame, again)
		}
		return
	}
	m2, err := Decode(again)
	if err != nil || !equalMessages(m, m2) {
		t.Fatalf("raft message does not survive a re-encode: %v", err)
	}
}

// FuzzDecode feeds arbitrary bytes to ReadFrame, Decode and DecodeHello.
func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		frame, _ := Encode(m)
		f.Add(frame)
	}
	f.Add(AppendHello(nil, Hello{Node: 101, Role: RoleBroker, Version: Version}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoded(t, data)
		if h, err := DecodeHello(data); err == nil {
			if !bytes.Equal(AppendHello(nil, h), data) {
				t.Fatalf("hello re-encodes differently")
			}
		}
		frame, err := ReadFrame(bytes.NewReader(data), 1<<16)
		if err == nil && !bytes.Equal(frame, data[:len(frame)]) {
			t.Fatalf("ReadFrame returned bytes that are not the input's prefix")
		}
	})
}

// FuzzDecodeByType builds a valid header around an arbitrary payload, so the
// fuzzer spends its effort inside the payload decoders of every type.
func FuzzDecodeByType(f *testing.F) {
	for _, m := range samples() {
		frame, _ := Encode(m)
		f.Add(frame[5], frame[HeaderBytes:])
	}
	f.Fuzz(func(t *testing.T, typ byte, payload []byte) {
		checkDecoded(t, frameOf(Type(typ), payload))
	})
}

func frameOf(typ Type, payload []byte) []byte {
	frame := make([]byte, 0, HeaderBytes+len(payload))
	frame = append(frame, 0, 0, 0, 0, Version, byte(typ))
	return setPrefix(append(frame, payload...))
}

// fuzzType is a per-type target: the payload decoder of one type, seeded
// with that type's sample.
func fuzzType(f *testing.F, k sm.MsgKind) {
	typ := TypeFor(k)
	for _, m := range samples() {
		if m.Kind() == k {
			frame, _ := Encode(m)
			f.Add(frame[HeaderBytes:])
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) { checkDecoded(t, frameOf(typ, payload)) })
}

func FuzzProduceRequest(f *testing.F)          { fuzzType(f, sm.KindProduceRequest) }
func FuzzProduceResponse(f *testing.F)         { fuzzType(f, sm.KindProduceResponse) }
func FuzzFetchRequest(f *testing.F)            { fuzzType(f, sm.KindFetchRequest) }
func FuzzFetchResponse(f *testing.F)           { fuzzType(f, sm.KindFetchResponse) }
func FuzzReplicaFetchRequest(f *testing.F)     { fuzzType(f, sm.KindReplicaFetchRequest) }
func FuzzReplicaFetchResponse(f *testing.F)    { fuzzType(f, sm.KindReplicaFetchResponse) }
func FuzzBrokerHeartbeat(f *testing.F)         { fuzzType(f, sm.KindBrokerHeartbeat) }
func FuzzBrokerHeartbeatResponse(f *testing.F) { fuzzType(f, sm.KindBrokerHeartbeatResponse) }
func FuzzAlterISRRequest(f *testing.F)         { fuzzType(f, sm.KindAlterISRRequest) }
func FuzzAlterISRResponse(f *testing.F)        { fuzzType(f, sm.KindAlterISRResponse) }
func FuzzCreateTopicRequest(f *testing.F)      { fuzzType(f, sm.KindCreateTopicRequest) }
func FuzzCreateTopicResponse(f *testing.F)     { fuzzType(f, sm.KindCreateTopicResponse) }
func FuzzDeleteTopicRequest(f *testing.F)      { fuzzType(f, sm.KindDeleteTopicRequest) }
func FuzzDeleteTopicResponse(f *testing.F)     { fuzzType(f, sm.KindDeleteTopicResponse) }
func FuzzMetadataRequest(f *testing.F)         { fuzzType(f, sm.KindMetadataRequest) }
func FuzzMetadataResponse(f *testing.F)        { fuzzType(f, sm.KindMetadataResponse) }
func FuzzRaftMessage(f *testing.F)             { fuzzType(f, sm.KindRaftMessage) }
func FuzzClusterStatusRequest(f *testing.F)    { fuzzType(f, sm.KindClusterStatusRequest) }
func FuzzClusterStatusResponse(f *testing.F)   { fuzzType(f, sm.KindClusterStatusResponse) }

func FuzzAlterTopicConfigRequest(f *testing.F)  { fuzzType(f, sm.KindAlterTopicConfigRequest) }
func FuzzAlterTopicConfigResponse(f *testing.F) { fuzzType(f, sm.KindAlterTopicConfigResponse) }
func FuzzListOffsetsRequest(f *testing.F)       { fuzzType(f, sm.KindListOffsetsRequest) }
func FuzzListOffsetsResponse(f *testing.F)      { fuzzType(f, sm.KindListOffsetsResponse) }

func FuzzCommitSegmentRequest(f *testing.F)       { fuzzType(f, sm.KindCommitSegmentRequest) }
func FuzzCommitSegmentResponse(f *testing.F)      { fuzzType(f, sm.KindCommitSegmentResponse) }
func FuzzDropRemoteSegmentsRequest(f *testing.F)  { fuzzType(f, sm.KindDropRemoteSegmentsRequest) }
func FuzzDropRemoteSegmentsResponse(f *testing.F) { fuzzType(f, sm.KindDropRemoteSegmentsResponse) }
func FuzzRemoteSegmentsRequest(f *testing.F)      { fuzzType(f, sm.KindRemoteSegmentsRequest) }
func FuzzRemoteSegmentsResponse(f *testing.F)     { fuzzType(f, sm.KindRemoteSegmentsResponse) }
func FuzzACLRequest(f *testing.F)                 { fuzzType(f, sm.KindACLRequest) }
func FuzzACLResponse(f *testing.F)                { fuzzType(f, sm.KindACLResponse) }
func FuzzCertRequest(f *testing.F)                { fuzzType(f, sm.KindCertRequest) }
func FuzzCertResponse(f *testing.F)               { fuzzType(f, sm.KindCertResponse) }

func FuzzFindCoordinatorRequest(f *testing.F)      { fuzzType(f, sm.KindFindCoordinatorRequest) }
func FuzzFindCoordinatorResponse(f *testing.F)     { fuzzType(f, sm.KindFindCoordinatorResponse) }
func FuzzJoinGroupRequest(f *testing.F)            { fuzzType(f, sm.KindJoinGroupRequest) }
func FuzzJoinGroupResponse(f *testing.F)           { fuzzType(f, sm.KindJoinGroupResponse) }
func FuzzSyncGroupRequest(f *testing.F)            { fuzzType(f, sm.KindSyncGroupRequest) }
func FuzzSyncGroupResponse(f *testing.F)           { fuzzType(f, sm.KindSyncGroupResponse) }
func FuzzHeartbeatRequest(f *testing.F)            { fuzzType(f, sm.KindHeartbeatRequest) }
func FuzzHeartbeatResponse(f *testing.F)           { fuzzType(f, sm.KindHeartbeatResponse) }
func FuzzLeaveGroupRequest(f *testing.F)           { fuzzType(f, sm.KindLeaveGroupRequest) }
func FuzzLeaveGroupResponse(f *testing.F)          { fuzzType(f, sm.KindLeaveGroupResponse) }
func FuzzOffsetCommitRequest(f *testing.F)         { fuzzType(f, sm.KindOffsetCommitRequest) }
func FuzzOffsetCommitResponse(f *testing.F)        { fuzzType(f, sm.KindOffsetCommitResponse) }
func FuzzOffsetFetchRequest(f *testing.F)          { fuzzType(f, sm.KindOffsetFetchRequest) }
func FuzzOffsetFetchResponse(f *testing.F)         { fuzzType(f, sm.KindOffsetFetchResponse) }
func FuzzListGroupsRequest(f *testing.F)           { fuzzType(f, sm.KindListGroupsRequest) }
func FuzzListGroupsResponse(f *testing.F)          { fuzzType(f, sm.KindListGroupsResponse) }
func FuzzDescribeGroupsRequest(f *testing.F)       { fuzzType(f, sm.KindDescribeGroupsRequest) }
func FuzzDescribeGroupsResponse(f *testing.F)      { fuzzType(f, sm.KindDescribeGroupsResponse) }
func FuzzDeleteGroupsRequest(f *testing.F)         { fuzzType(f, sm.KindDeleteGroupsRequest) }
func FuzzDeleteGroupsResponse(f *testing.F)        { fuzzType(f, sm.KindDeleteGroupsResponse) }
func FuzzInitProducerIDRequest(f *testing.F)       { fuzzType(f, sm.KindInitProducerIDRequest) }
func FuzzInitProducerIDResponse(f *testing.F)      { fuzzType(f, sm.KindInitProducerIDResponse) }
func FuzzAllocateProducerIDsRequest(f *testing.F)  { fuzzType(f, sm.KindAllocateProducerIDsRequest) }
func FuzzAllocateProducerIDsResponse(f *testing.F) { fuzzType(f, sm.KindAllocateProducerIDsResponse) }

// FuzzHello checks DecodeHello: any payload decodes to a Hello that
// re-encodes to the same bytes, or fails with ErrMalformed.
func FuzzHello(f *testing.F) {
	f.Add(AppendHello(nil, Hello{Node: 101, Role: RoleBroker, Version: Version})[HeaderBytes:])
	f.Fuzz(func(t *testing.T, payload []byte) {
		frame := frameOf(TypeHello, payload)
		h, err := DecodeHello(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(AppendHello(nil, h), frame) {
			t.Fatalf("hello re-encodes differently")
		}
	})
}
