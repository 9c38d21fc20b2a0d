package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/weirmq/weir/sm"
)

// layout builds expected payload bytes field by field, independently of the
// codec, so a field written at the wrong width or in the wrong place fails
// even though it would round-trip.
type layout []byte

func (l layout) u8(v uint8) layout   { return append(l, v) }
func (l layout) u16(v uint16) layout { return binary.LittleEndian.AppendUint16(l, v) }
func (l layout) u32(v uint32) layout { return binary.LittleEndian.AppendUint32(l, v) }
func (l layout) u64(v uint64) layout { return binary.LittleEndian.AppendUint64(l, v) }
func (l layout) i32(v int32) layout  { return l.u32(uint32(v)) }
func (l layout) i64(v int64) layout  { return l.u64(uint64(v)) }
func (l layout) str(s string) layout { return append(l.u32(uint32(len(s))), s...) }
func (l layout) tp(topic string, p int32) layout {
	return l.str(topic).i32(p)
}

// The consumer-group messages' wire layout: sm.Code as u16, sm.NodeID as
// u64, int32 as i32, sm.Duration and sm.Offset as i64, a TopicPartition as
// topic then partition, lists as u32 count then elements, fields in
// declaration order.
func TestGroupLayout(t *testing.T) {
	cases := []struct {
		m    sm.Message
		want layout
	}{
		{sm.FindCoordinatorRequest{ReqID: 7, GroupID: "g"}, layout{}.u64(7).str("g")},
		{sm.FindCoordinatorResponse{ReqID: 7, Code: sm.CodeCoordinatorNotAvailable, Message: "m", Coordinator: 102, Partition: -1},
			layout{}.u64(7).u16(24).str("m").u64(102).i32(-1)},
		{sm.JoinGroupRequest{ReqID: 1, GroupID: "g", MemberID: "m", GroupInstanceID: "i", ClientID: "c", ProtocolType: "consumer",
			Protocols:      []sm.GroupProtocol{{Name: "range", Metadata: []byte{9}}, {Name: "rr"}},
			SessionTimeout: 10 * sm.Second, RebalanceTimeout: -1, RequireKnownMemberID: true},
			layout{}.u64(1).str("g").str("m").str("i").str("c").str("consumer").
				u32(2).str("range").str("\x09").str("rr").u32(0).
				i64(int64(10 * sm.Second)).i64(-1).u8(1)},
		{sm.JoinGroupResponse{ReqID: 1, Code: sm.CodeMemberIDRequired, Generation: -1, MemberID: "m-1",
			Members: []sm.GroupMemberMetadata{{MemberID: "a", InstanceID: "b", Metadata: []byte("x")}}},
			layout{}.u64(1).u16(35).str("").i32(-1).str("").str("").str("").str("m-1").u32(1).str("a").str("b").str("x")},
		{sm.SyncGroupResponse{ReqID: 2, Code: sm.CodeRebalanceInProgress, Protocol: "range", Assignment: []byte{1, 2}},
			layout{}.u64(2).u16(29).str("").str("").str("range").str("\x01\x02")},
		{sm.HeartbeatRequest{ReqID: 3, GroupID: "g", Generation: 4, MemberID: "m", GroupInstanceID: "i"},
			layout{}.u64(3).str("g").i32(4).str("m").str("i")},
		{sm.LeaveGroupResponse{ReqID: 4, Members: []sm.GroupMemberResult{{MemberID: "m", Code: sm.CodeFencedInstanceID, Message: "f"}}},
			layout{}.u64(4).u16(0).str("").u32(1).str("m").str("").u16(37).str("f")},
		{sm.OffsetCommitRequest{ReqID: 5, GroupID: "g", Generation: -1, Reset: true,
			Offsets: []sm.OffsetCommit{{TP: sm.TopicPartition{Topic: "t", Partition: 2}, Offset: 1 << 40, LeaderEpoch: 3, Metadata: "md"}}},
			layout{}.u64(5).str("g").i32(-1).str("").str("").u8(0).u8(1).u32(1).tp("t", 2).i64(1 << 40).i32(3).str("md")},
		{sm.OffsetFetchRequest{ReqID: 6, GroupID: "g", Partitions: []sm.TopicPartition{{Topic: "t", Partition: 1}}},
			layout{}.u64(6).str("g").u32(1).tp("t", 1)},
		{sm.OffsetFetchResponse{ReqID: 6, Offsets: []sm.CommittedOffset{{TP: sm.TopicPartition{Topic: "t"}, Offset: -1, LeaderEpoch: -1, Code: sm.CodeGroupAuthorizationFailed}}},
			layout{}.u64(6).u16(0).str("").u32(1).tp("t", 0).i64(-1).i32(-1).str("").u16(41)},
		{sm.ListGroupsRequest{ReqID: 8}, layout{}.u64(8)},
		{sm.DescribeGroupsRequest{ReqID: 9, GroupIDs: []string{"a", "b"}}, layout{}.u64(9).u32(2).str("a").str("b")},
		{sm.DescribeGroupsResponse{ReqID: 9, Groups: []sm.GroupDescription{{GroupID: "a", Code: sm.CodeOK, State: "Stable", Generation: 2, Leader: "m",
			Members: []sm.GroupMember{{MemberID: "m", ClientHost: "h", Assignment: []byte{7}}}}}},
			layout{}.u64(9).u16(0).str("").u32(1).str("a").u16(0).str("").str("Stable").str("").str("").i32(2).str("m").
				u32(1).str("m").str("").str("").str("h").str("").str("\x07")},
		{sm.DeleteGroupsResponse{ReqID: 10, Groups: []sm.GroupResult{{GroupID: "a", Code: sm.CodeNonEmptyGroup, Message: "x"}}},
			layout{}.u64(10).u16(0).str("").u32(1).str("a").u16(33).str("x")},
	}
	for _, c := range cases {
		frame, err := Encode(c.m)
		if err != nil {
			t.Fatalf("%T: %v", c.m, err)
		}
		if got := frame[HeaderBytes:]; !bytes.Equal(got, c.want) {
			t.Errorf("%T payload:\ngot  %x\nwant %x", c.m, got, []byte(c.want))
		}
		if frame[5] != byte(c.m.Kind()) {
			t.Errorf("%T: type byte %d, want kind %d", c.m, frame[5], c.m.Kind())
		}
	}
}

// Decode errors inside the group messages name the element and field.
func TestGroupDecodeErrors(t *testing.T) {
	// A nested count: groups[0].members claims more members than fit.
	desc, _ := Encode(sm.DescribeGroupsResponse{Groups: []sm.GroupDescription{{Members: []sm.GroupMember{{}}}}})
	// members count sits before one empty member (6 lengths of 4 bytes).
	binary.LittleEndian.PutUint32(desc[len(desc)-24-4:], 3)

	// A lying string length deep in a list: offsets[1].tp.topic.
	commit, _ := Encode(sm.OffsetCommitRequest{Offsets: make([]sm.OffsetCommit, 2)})
	// The second offset is tp (4+4), offset 8, epoch 4, metadata 4 = 24 bytes.
	binary.LittleEndian.PutUint32(commit[len(commit)-24:], 1000)

	join, _ := Encode(sm.JoinGroupRequest{})
	join[len(join)-1] = 2 // requireKnownMemberID

	top, _ := Encode(sm.DeleteGroupsRequest{})
	binary.LittleEndian.PutUint32(top[len(top)-4:], 2) // groupIDs: 2 strings in 0 bytes

	heartbeat, _ := Encode(sm.HeartbeatResponse{Message: "abc"})
	heartbeat = setPrefix(heartbeat[:len(heartbeat)-2])

	cases := []struct {
		name, want string
		frame      []byte
	}{
		{"nested count", "wire: DescribeGroupsResponse: groups[0].members: count 3 needs at least 72 bytes, exceeds remaining 24 bytes", desc},
		{"lying length", "wire: OffsetCommitRequest: offsets[1].tp.topic: length 1000 exceeds remaining 20 bytes", commit},
		{"bool", "wire: JoinGroupRequest: requireKnownMemberID: invalid bool 2", join},
		{"top count", "wire: DeleteGroupsRequest: groupIDs: count 2 needs at least 8 bytes, exceeds remaining 0 bytes", top},
		{"cut", "wire: HeartbeatResponse: message: length 3 exceeds remaining 1 bytes", heartbeat},
	}
	for _, c := range cases {
		_, err := Decode(c.frame)
		var de *DecodeError
		if err == nil || err.Error() != c.want || !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v\nwant       %s", c.name, err, c.want)
		}
	}
}

// Every message kind has its own fuzz target, FuzzKindName, in fuzz_test.go.
func TestFuzzTargetPerKind(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "fuzz_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && strings.HasPrefix(fn.Name.Name, "Fuzz") {
			have[strings.TrimPrefix(fn.Name.Name, "Fuzz")] = true
		}
	}
	for _, k := range sm.MsgKinds() {
		if !have[k.String()] {
			t.Errorf("no fuzz target Fuzz%s for kind %d", k, k)
		}
	}
}
