package wire

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weirmq/weir/sm"
)

// A raft snapshot message (MsgSnap) carries the controller's whole metadata
// snapshot in Snapshot.Data: a multi-megabyte one crosses a frame whole,
// within DefaultMaxFrameBytes, with its data and metadata intact.
func TestMsgSnapCarriesData(t *testing.T) {
	data := bytes.Repeat([]byte("metadata snapshot "), (8<<20)/18)
	m := sm.RaftMessage{M: &pb.Message{
		Type: pb.MessageType_MsgSnap.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(7),
		Snapshot: &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{
			Index: proto.Uint64(12345), Term: proto.Uint64(6), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}},
		}},
	}}
	frame, err := AppendFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) > DefaultMaxFrameBytes {
		t.Fatalf("an 8 MiB snapshot makes a %d-byte frame, above DefaultMaxFrameBytes %d", len(frame), DefaultMaxFrameBytes)
	}
	body, err := ReadFrame(bytes.NewReader(frame), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := got.(sm.RaftMessage); !ok || !proto.Equal(r.M, m.M) {
		t.Fatalf("MsgSnap changed on the wire")
	}
}
